#!/bin/sh
# fou.sh: the Linux kernel as an overlay-tcp peer with FOU (foo-over-UDP), no bridge process.
# Step by step, and why, in docs/linux-peer.md.
#
#   fou.sh check                      exit 0 if this kernel can do FOU + ipip, else print why, exit 1
#   fou.sh up   [options]             set the peer up
#   fou.sh down [options]             undo what `up` did
#
# Options (the same for up and down):
#   --netns NAME       work in network namespace NAME: `up` creates it, `down` deletes it
#                      (default: the current namespace, e.g. one made with `unshare --net`)
#   --dev NAME         the ipip tunnel device (default fou<pid>; at most 15 characters)
#   --kernel-ip IP     the kernel's overlay address (default 10.77.0.1)
#   --net CIDR         the overlay network routed into the tunnel (default 10.77.0.0/16)
#   --fou-port P       UDP port the kernel receives FOU on (required)
#   --peer IP:PORT     where the kernel sends its packets: an overlay host or a proxy (required for up)
#   --local IP         the kernel's outer (UDP) address (default 127.0.0.1)
#   --mtu N            the tunnel's MTU, the largest inner IPv4 packet (default 1472)
set -eu

cmd=${1:-}
[ $# -gt 0 ] && shift
NETNS= DEV="fou$$" KIP=10.77.0.1 NET=10.77.0.0/16 FPORT= PEER= LOCAL=127.0.0.1 MTU=1472
usage() { echo "usage: fou.sh check | up|down [--netns NAME] [--dev NAME] [--kernel-ip IP] [--net CIDR] --fou-port P --peer IP:PORT [--local IP] [--mtu N]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case $1 in
    --netns) NETNS=$2 ;; --dev) DEV=$2 ;; --kernel-ip) KIP=$2 ;; --net) NET=$2 ;;
    --fou-port) FPORT=$2 ;; --peer) PEER=$2 ;; --local) LOCAL=$2 ;; --mtu) MTU=$2 ;;
    *) usage ;;
  esac
  shift 2
done

# Run a command in the target namespace (or here).
inns() { if [ -n "$NETNS" ]; then ip netns exec "$NETNS" "$@"; else "$@"; fi; }

case $cmd in
check)
  # Try the real thing in a namespace of our own, so nothing is left behind either way.
  ns="foucheck$$"
  if [ "$(id -u)" != 0 ]; then echo "fou.sh: not root (ip fou and network namespaces need it)"; exit 1; fi
  command -v ip >/dev/null 2>&1 || { echo "fou.sh: no ip (iproute2) on PATH"; exit 1; }
  command -v modprobe >/dev/null 2>&1 && { modprobe fou 2>/dev/null || true; modprobe ipip 2>/dev/null || true; }
  if ! ip netns add "$ns" 2>/dev/null; then echo "fou.sh: cannot create a network namespace"; exit 1; fi
  why=
  if ! out=$(ip -n "$ns" fou add port 5555 ipproto 4 2>&1); then
    why="the kernel has no FOU support (ip fou add: ${out:-failed}; the fou module is missing or not loadable)"
  elif ! out=$(ip -n "$ns" link add fouchk type ipip local 127.0.0.1 remote 127.0.0.1 encap fou encap-sport 5555 encap-dport 5556 2>&1); then
    why="the kernel cannot make an ipip tunnel with FOU encapsulation (${out:-failed}; the ipip module is missing)"
  fi
  ip netns del "$ns" 2>/dev/null || true
  why=$(printf '%s' "$why" | tr '\n' ' ')
  if [ -n "$why" ]; then echo "fou.sh: $why"; exit 1; fi
  echo "fou.sh: FOU available"
  ;;
up)
  [ -n "$FPORT" ] && [ -n "$PEER" ] || usage
  PIP=${PEER%:*} PPORT=${PEER##*:}
  command -v modprobe >/dev/null 2>&1 && { modprobe fou 2>/dev/null || true; modprobe ipip 2>/dev/null || true; }
  if [ -n "$NETNS" ]; then
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
  fi
  # 1. the receive side: UDP datagrams to FPORT are decapsulated as IPv4-in-IPv4 (protocol 4).
  inns ip fou add port "$FPORT" ipproto 4
  # 2. the send side: an ipip tunnel whose outer header is IPv4 + UDP (sport FPORT, dport PPORT).
  #    local/remote are the outer addresses; received packets are matched to the tunnel by them.
  inns ip link add "$DEV" type ipip local "$LOCAL" remote "$PIP" ttl 64 \
    encap fou encap-sport "$FPORT" encap-dport "$PPORT"
  inns ip link set "$DEV" mtu "$MTU"
  # 3. inner packets come from overlay addresses: loose reverse-path check on the tunnel, and
  #    no IPv6 noise on it.
  inns sysctl -q -w "net.ipv4.conf.$DEV.rp_filter=0" "net.ipv4.conf.all.rp_filter=0" >/dev/null
  inns sysctl -q -w "net.ipv6.conf.$DEV.disable_ipv6=1" >/dev/null 2>&1 || true
  # 4. the kernel's overlay address, and the overlay network behind the tunnel.
  inns ip addr add "$KIP/32" dev "$DEV"
  inns ip link set "$DEV" up
  inns ip route replace "$NET" dev "$DEV" src "$KIP"
  echo "READY fou dev=$DEV kernel_ip=$KIP net=$NET fou_port=$FPORT peer=$PEER mtu=$MTU netns=${NETNS:--}"
  ;;
down)
  if [ -n "$NETNS" ]; then
    # Deleting the namespace takes the tunnel, the FOU port, addresses and routes with it.
    ip netns del "$NETNS"
  else
    ip link del "$DEV" 2>/dev/null || true
    [ -n "$FPORT" ] && ip fou del port "$FPORT" 2>/dev/null || true
  fi
  ;;
*) usage ;;
esac
