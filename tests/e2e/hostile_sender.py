#!/usr/bin/env python3
"""A hostile shoal sender on loopback for e2e_hostile_sender: accepts one receiver, runs the join
handshake in insecure mode (wire layout from control/messages.h), then sends what a broken or
malicious sender might: CASE impossible = a Session claiming 2^32-1 blocks for 1 MiB; CASE grant =
a KeyGrant before any Session. Prints the port it listens on, then waits for the receiver to hang up."""
import socket
import struct
import sys


def frame(t: int, body: bytes) -> bytes:
    b = bytes([1, t]) + body
    return struct.pack(">I", len(b)) + b


def read_msg(c: socket.socket) -> bytes:
    head = c.recv(4, socket.MSG_WAITALL)
    n = struct.unpack(">I", head)[0]
    return c.recv(n, socket.MSG_WAITALL)


def main() -> int:
    case = sys.argv[1]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    print(s.getsockname()[1], flush=True)
    s.settimeout(30)
    c, _ = s.accept()
    c.settimeout(30)
    hello = read_msg(c)
    assert hello[1] == 1, "expected Hello"
    c.sendall(frame(2, b"\x11" * 32 + b"\x01" + b"\0" * 32))  # Challenge, insecure
    auth = read_msg(c)
    assert auth[1] == 3, "expected Auth"
    c.sendall(frame(4, struct.pack(">I", 1)))  # Accept
    if case == "impossible":
        name = b"huge.img"
        session = struct.pack(">QIHBQHBBQI", 0x1234, 0xEF010203, 9000, 1, 10**8, 1408, 64, 0,
                              1 << 20, 0xFFFFFFFF) + struct.pack(">H", len(name)) + name + b"\0" \
            + struct.pack(">H", 25)  # object_format, progress_interval_ms
        c.sendall(frame(6, session))
    else:
        c.sendall(frame(14, bytes([1, 0]) + b"\0" * (12 + 32 + 16)))  # KeyGrant, clear
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
