#!/usr/bin/env python3
"""tun-bridge.py: the Linux kernel as an overlay-tcp peer where FOU is missing.

Creates a TUN device, gives the kernel an address on it, and moves IPv4 packets between the
TUN and one UDP socket: each datagram is exactly one IPv4 packet (overlay-tcp's wire format,
the same layout as Linux FOU with ipproto 4). Python 3 standard library only.

    tun-bridge.py --tun kp1234 --kernel-ip 10.77.0.1 --net 10.77.0.0/16 \
                  --listen 127.0.0.1:0 [--peer 127.0.0.1:PORT] [--learn] [--mtu 1500]

Prints one line on stdout once usable:
    READY tun-bridge tun=kp1234 kernel_ip=10.77.0.1 net=10.77.0.0/16 listen=127.0.0.1:40123 mtu=1500 pid=N
Stops on SIGTERM, SIGINT, SIGHUP or (with --exit-on-stdin-eof) stdin EOF; then closes the
TUN (a non-persistent device disappears with its address and routes), prints counters on
stderr and exits 0. Exit status 1: setup failed; 2: bad command line or a network namespace
with a default route (it is meant for a private one; --allow-host-netns overrides).
"""
import argparse
import fcntl
import ipaddress
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys

TUNSETIFF = 0x400454CA      # _IOW('T', 202, int)
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFNAMSIZ = 16
PROG = "tun-bridge"


def die(status, msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.exit(status)


def endpoint(text):
    host, sep, port = text.rpartition(":")
    try:
        if not sep:
            raise ValueError
        ipaddress.IPv4Address(host)
        p = int(port)
        if not 0 <= p <= 65535:
            raise ValueError
        return (host, p)
    except ValueError:
        raise argparse.ArgumentTypeError("expected IPv4:PORT, got %r" % text)


def route_spec(text):
    ip, sep, ep = text.partition("=")
    try:
        return (str(ipaddress.IPv4Address(ip)), endpoint(ep))
    except ValueError:
        raise argparse.ArgumentTypeError("expected IP=IPv4:PORT, got %r" % text)


def has_default_route():
    """True when this network namespace has an IPv4 default route (/proc/net/route is per netns)."""
    with open("/proc/net/route") as f:
        next(f, None)
        for line in f:
            cols = line.split()
            if len(cols) > 7 and cols[1] == "00000000" and cols[7] == "00000000":
                return True
    return False


def ip(*args):
    r = subprocess.run(["ip"] + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise OSError("ip %s: %s" % (" ".join(args), r.stderr.strip()))


def write_proc(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        pass  # not every kernel has every knob (e.g. IPv6 disabled at boot)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("%dsH" % IFNAMSIZ, name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def check_packet(pkt, kernel_ip, net, any_src):
    """None when the datagram is an IPv4 packet the kernel may receive, else the drop reason."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4:
        return "not_ipv4"
    ihl = (pkt[0] & 0x0F) * 4
    total = struct.unpack_from("!H", pkt, 2)[0]
    if ihl < 20 or total < ihl or total > len(pkt):
        return "bad_header"
    src = ipaddress.IPv4Address(pkt[12:16])
    dst = ipaddress.IPv4Address(pkt[16:20])
    if not any_src and (src not in net or src == kernel_ip):
        return "bad_source"
    if dst != kernel_ip and dst not in net:
        return "bad_destination"
    return None


def main():
    ap = argparse.ArgumentParser(prog=PROG, description="bridge IPv4 between a TUN device and UDP")
    ap.add_argument("--tun", default="kp%d" % os.getpid(), help="device name (default kp<pid>)")
    ap.add_argument("--kernel-ip", default="10.77.0.1", type=ipaddress.IPv4Address)
    ap.add_argument("--net", default="10.77.0.0/16", type=ipaddress.IPv4Network, help="overlay network routed into the TUN")
    ap.add_argument("--listen", default=("127.0.0.1", 0), type=endpoint, help="UDP IP:PORT (port 0: any)")
    ap.add_argument("--peer", type=endpoint, help="where packets from the kernel go by default")
    ap.add_argument("--route", action="append", default=[], type=route_spec, help="IP=HOST:PORT for one overlay address")
    ap.add_argument("--learn", action="store_true", help="learn overlay address -> UDP source from inbound packets")
    ap.add_argument("--mtu", default=1500, type=int)
    ap.add_argument("--any-source", action="store_true", help="accept inner sources outside --net")
    ap.add_argument("--allow-host-netns", action="store_true", help="run even where a default route exists")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    try:
        a = ap.parse_args()
    except SystemExit as e:
        sys.exit(2 if e.code else 0)
    if len(a.tun.encode()) >= IFNAMSIZ:
        die(2, "device name %r is longer than %d bytes" % (a.tun, IFNAMSIZ - 1))
    if not 576 <= a.mtu <= 65535:
        die(2, "mtu must be in 576..65535")
    if a.kernel_ip not in a.net:
        die(2, "kernel address %s is not in %s" % (a.kernel_ip, a.net))
    if has_default_route() and not a.allow_host_netns:
        die(2, "refusing to start: this network namespace has a default route; run me in a private "
               "one (unshare --net), or pass --allow-host-netns")

    routes = {ipaddress.IPv4Address(k): v for k, v in a.route}
    learned = {}
    stats = {"to_kernel": 0, "from_kernel": 0}
    drops = {}

    def drop(reason):
        drops[reason] = drops.get(reason, 0) + 1

    try:
        tun = open_tun(a.tun)
    except OSError as e:
        die(1, "cannot create TUN %s: %s" % (a.tun, e))
    sock = None
    try:
        # IPv6 off before the link comes up: no router solicitations or DAD noise on the TUN.
        write_proc("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % a.tun, "1")
        # Inner sources are overlay addresses routed back through this device, so strict
        # reverse-path filtering would pass them; loose/off here avoids surprises with --any-source.
        write_proc("/proc/sys/net/ipv4/conf/%s/rp_filter" % a.tun, "0")
        ip("link", "set", "dev", a.tun, "mtu", str(a.mtu))
        ip("addr", "add", "%s/32" % a.kernel_ip, "dev", a.tun)
        ip("link", "set", "dev", a.tun, "up")
        ip("route", "replace", str(a.net), "dev", a.tun, "src", str(a.kernel_ip))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sock.bind(a.listen)
        sock.setblocking(False)
    except OSError as e:
        os.close(tun)
        die(1, "setup failed: %s" % e)

    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    sel = selectors.DefaultSelector()
    sel.register(tun, selectors.EVENT_READ, "tun")
    sel.register(sock, selectors.EVENT_READ, "udp")
    if a.exit_on_stdin_eof:
        sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")

    listen = "%s:%d" % sock.getsockname()
    sys.stdout.write("READY %s tun=%s kernel_ip=%s net=%s listen=%s mtu=%d pid=%d\n"
                     % (PROG, a.tun, a.kernel_ip, a.net, listen, a.mtu, os.getpid()))
    sys.stdout.flush()

    while not stopping:
        try:
            events = sel.select(timeout=0.5)
        except InterruptedError:
            continue
        for key, _ in events:
            if key.data == "tun":
                for _ in range(256):  # bounded burst per wakeup
                    try:
                        pkt = os.read(tun, 65535)
                    except BlockingIOError:
                        break
                    if len(pkt) < 20 or pkt[0] >> 4 != 4:
                        drop("kernel_not_ipv4")
                        continue
                    dst = ipaddress.IPv4Address(pkt[16:20])
                    to = routes.get(dst) or learned.get(dst) or a.peer
                    if to is None:
                        drop("kernel_no_route")
                        continue
                    try:
                        sock.sendto(pkt, to)
                        stats["from_kernel"] += 1
                    except OSError:
                        drop("udp_send_error")
            elif key.data == "udp":
                for _ in range(256):
                    try:
                        pkt, src = sock.recvfrom(65535)
                    except BlockingIOError:
                        break
                    why = check_packet(pkt, a.kernel_ip, a.net, a.any_source)
                    if why:
                        drop(why)
                        continue
                    if a.learn:
                        learned[ipaddress.IPv4Address(pkt[12:16])] = src
                    try:
                        os.write(tun, pkt)
                        stats["to_kernel"] += 1
                    except OSError:
                        drop("tun_write_error")
            elif key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    stopping.append(0)

    sel.close()
    sock.close()
    os.close(tun)  # the device, its address and its route go with the last descriptor
    sys.stderr.write("%s: stopped: to_kernel=%d from_kernel=%d drops=%s\n"
                     % (PROG, stats["to_kernel"], stats["from_kernel"],
                        ",".join("%s:%d" % kv for kv in sorted(drops.items())) or "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
