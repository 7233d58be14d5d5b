#!/usr/bin/env python3
"""Hostile control-plane clients for e2e_join_flood: IDLE connections that send nothing, SLOW ones that
trickle a Hello one byte per second (slow-loris), and BIG ones that announce a 1 MiB message before
joining. Holds them until the sender closes them or SECONDS pass, then reports how many the sender
closed (by reading EOF/reset)."""
import argparse
import socket
import struct
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sender", required=True, help="host:port")
    ap.add_argument("--idle", type=int, default=200)
    ap.add_argument("--slow", type=int, default=20)
    ap.add_argument("--big", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    host, port = a.sender.rsplit(":", 1)
    conns = []
    for kind, n in (("idle", a.idle), ("slow", a.slow), ("big", a.big)):
        for _ in range(n):
            s = socket.create_connection((host, int(port)), timeout=5)
            s.setblocking(False)
            conns.append([kind, s, True])
            if kind == "big":
                s.send(struct.pack(">I", 1 << 20) + bytes([1, 1]) + b"\0" * 100)
    hello = struct.pack(">I", 36) + bytes([1, 1]) + b"\0" * 34
    closed = {"idle": 0, "slow": 0, "big": 0}
    t0 = time.time()
    i = 0
    while time.time() - t0 < a.seconds and any(c[2] for c in conns):
        for c in conns:
            kind, s, alive = c
            if not alive:
                continue
            try:
                if kind == "slow" and i < len(hello):
                    s.send(hello[i:i + 1])
                if s.recv(4096) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            except OSError:
                c[2] = False
                closed[kind] += 1
        i += 1
        time.sleep(1)
    print("join_flood: closed by the sender: " + ", ".join(f"{v}/{n} {k}" for (k, v), n in
          zip(closed.items(), (a.idle, a.slow, a.big))), flush=True)
    for kind, s, alive in conns:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
