#!/usr/bin/env python3
"""kernel-tcp.py: one TCP connection on the Linux kernel's stack, for overlay-tcp tests.

    kernel-tcp.py --listen IP:PORT  [--mode sink|source|echo] [--bytes N] [--seed S] [--cc NAME]
    kernel-tcp.py --connect IP:PORT [--mode ...] [--bind IP] [--timeout SECONDS]

A server accepts one connection; a client makes one. Then:
  sink    read everything until the peer's FIN, then close (send FIN);
  source  send N bytes of the seeded stream, then FIN; read whatever arrives until the peer's FIN;
  echo    send back everything read; FIN after the peer's FIN once all is sent.
The seeded stream is SHAKE128("<seed>:<k>") blocks of 65536 bytes for k = 0, 1, ..., cut to N.

stdout:  READY kernel-tcp role=server mode=sink listen=10.77.0.1:5000 pid=N   (listening)
         READY kernel-tcp role=client mode=source local=... peer=... pid=N    (connected)
         RESULT kernel-tcp role=... mode=... local=... peer=... bytes=N sha256=HEX seconds=S rx=N tx=N
bytes/sha256 describe what was sent (source) or received (sink, echo).
Errors: one line on stderr, no RESULT; exit 1 (124 on --timeout, 2 for a bad command line).
--cc sets TCP_CONGESTION on the socket (root may pick any available algorithm).
"""
import argparse
import hashlib
import os
import selectors
import socket
import sys
import time

PROG = "kernel-tcp"
BLOCK = 65536


def endpoint(text):
    host, sep, port = text.rpartition(":")
    try:
        if not sep:
            raise ValueError
        socket.inet_aton(host)
        return (host, int(port))
    except (OSError, ValueError):
        raise argparse.ArgumentTypeError("expected IPv4:PORT, got %r" % text)


class Expired(Exception):
    pass


def stream(seed, n):
    """Yields the seeded source stream in blocks, n bytes in all."""
    k = 0
    while n > 0:
        b = hashlib.shake_128(("%s:%d" % (seed, k)).encode()).digest(BLOCK)[:n]
        n -= len(b)
        k += 1
        yield b


def name(addr):
    return "%s:%d" % addr[:2]


def run(conn, mode, nbytes, seed, deadline):
    """Drives one connection to both FINs. Returns (bytes, sha256, rx, tx)."""
    conn.setblocking(False)
    sel = selectors.DefaultSelector()
    h_rx, h_tx = hashlib.sha256(), hashlib.sha256()
    rx = tx = 0
    out = bytearray()
    src = stream(seed, nbytes) if mode == "source" else iter(())
    peer_fin = sent_fin = False
    while not (peer_fin and sent_fin):
        if not sent_fin and not out:
            if mode == "source":
                nxt = next(src, None)
                if nxt is not None:
                    out += nxt
                    h_tx.update(nxt)
            if not out and (mode == "source" and nxt is None or mode != "source" and peer_fin):
                conn.shutdown(socket.SHUT_WR)
                sent_fin = True
        want = 0
        if not peer_fin and len(out) < (4 << 20):
            want |= selectors.EVENT_READ
        if out:
            want |= selectors.EVENT_WRITE
        if not want:
            continue
        try:
            sel.modify(conn, want)
        except KeyError:
            sel.register(conn, want)
        left = deadline - time.monotonic()
        if left <= 0:
            raise Expired()
        for _key, ev in sel.select(min(left, 1.0)):
            if ev & selectors.EVENT_READ:
                try:
                    d = conn.recv(256 * 1024)
                except BlockingIOError:
                    d = None
                if d == b"":
                    peer_fin = True
                elif d:
                    rx += len(d)
                    h_rx.update(d)
                    if mode == "echo":
                        out += d
                        h_tx.update(d)
            if ev & selectors.EVENT_WRITE and out:
                try:
                    n = conn.send(out)
                except BlockingIOError:
                    n = 0
                del out[:n]
                tx += n
    sel.close()
    if mode == "source":
        return tx, h_tx.hexdigest(), rx, tx
    return rx, h_rx.hexdigest(), rx, tx


def main():
    ap = argparse.ArgumentParser(prog=PROG)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--listen", type=endpoint)
    g.add_argument("--connect", type=endpoint)
    ap.add_argument("--mode", choices=["sink", "source", "echo"], default="sink")
    ap.add_argument("--bytes", type=int, default=0)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--bind", help="client: local IP")
    ap.add_argument("--cc", help="congestion control (TCP_CONGESTION)")
    ap.add_argument("--timeout", type=float, default=60.0)
    try:
        a = ap.parse_args()
    except SystemExit as e:
        sys.exit(2 if e.code else 0)
    deadline = time.monotonic() + a.timeout
    role = "server" if a.listen else "client"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if a.cc:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, a.cc.encode())
        if a.listen:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(a.listen)
            s.listen(1)
            print("READY %s role=server mode=%s listen=%s pid=%d" % (PROG, a.mode, name(s.getsockname()), os.getpid()), flush=True)
            s.settimeout(max(0.001, deadline - time.monotonic()))
            conn, _ = s.accept()  # inherits the listener's congestion control
            s.close()
        else:
            if a.bind:
                s.bind((a.bind, 0))
            s.settimeout(max(0.001, deadline - time.monotonic()))
            s.connect(a.connect)
            conn = s
        t0 = time.monotonic()
        local, peer = name(conn.getsockname()), name(conn.getpeername())
        if role == "client":
            print("READY %s role=client mode=%s local=%s peer=%s pid=%d" % (PROG, a.mode, local, peer, os.getpid()), flush=True)
        nbytes, digest, rx, tx = run(conn, a.mode, a.bytes, a.seed, deadline)
        conn.close()
        print("RESULT %s role=%s mode=%s local=%s peer=%s bytes=%d sha256=%s seconds=%.3f rx=%d tx=%d"
              % (PROG, role, a.mode, local, peer, nbytes, digest, time.monotonic() - t0, rx, tx), flush=True)
        return 0
    except (socket.timeout, Expired):
        sys.stderr.write("%s: timed out after %g s\n" % (PROG, a.timeout))
        return 124
    except OSError as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
