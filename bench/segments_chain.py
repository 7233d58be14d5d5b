#!/usr/bin/env python3
"""A TCP store-and-forward chain through the receivers, the unicast rival of bench/segments.sh (as
Kascade does it): the sender streams the object to the first node; each node writes what it
receives to its file and forwards it to the next node as it arrives. No verification, no repair:
the chain's best case.

  segments_chain.py send FILE HOST:PORT         stream FILE to the first node
  segments_chain.py node OUT [NEXT_HOST:PORT]   listen on 0.0.0.0:9300, write OUT, forward to NEXT
"""
import os
import socket
import sys
import time

PORT = 9300
CHUNK = 1 << 20


def connect(target, wait_s=60.0):
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return socket.create_connection((host, int(port)))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def send(path, target):
    with open(path, "rb") as f, connect(target) as s:
        s.sendfile(f)


def node(out, target=None):
    with socket.create_server(("0.0.0.0", PORT)) as srv:
        srv.settimeout(120)
        up, _ = srv.accept()
    down = connect(target) if target else None
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    tmp = out + ".part"
    with open(tmp, "wb") as f, up:
        while True:
            n = up.recv_into(buf)
            if n == 0:
                break
            if down:
                down.sendall(view[:n])
            f.write(view[:n])
    if down:
        down.close()
    os.rename(tmp, out)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "send" and len(sys.argv) == 4:
        send(sys.argv[2], sys.argv[3])
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "node":
        node(sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else None)
    else:
        sys.exit(__doc__)
