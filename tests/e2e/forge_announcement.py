#!/usr/bin/env python3
"""Forges a session announcement (announce/announce.h): waits for a genuine one on the announce
group, then announces the same session id and sender under another object name, unsigned, a few
times (what anyone on the announce network can do where unsigned announcements are accepted:
TLS alone or --insecure). Used by tests/e2e/announce_bound.sh (issue #15 item 1)."""
import argparse
import os
import socket
import struct
import time

HEADER = 56
TAG = 32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", default="239.255.0.2")
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--iface", default="v0")
    ap.add_argument("--name", required=True, help="the object name to announce instead")
    ap.add_argument("--count", type=int, default=10)
    a = ap.parse_args()

    ifindex = socket.if_nametoindex(a.iface)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind((a.group, a.port))
    mreqn = struct.pack("4s4si", socket.inet_aton(a.group), socket.inet_aton("0.0.0.0"), ifindex)
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    while True:
        data, (src, _) = rx.recvfrom(2048)
        if len(data) >= HEADER + 1 + TAG and data[:4] == b"SHAN":
            break
    session_id, = struct.unpack_from(">Q", data, 8)
    control_ip, control_port = struct.unpack_from(">IH", data, 40)
    size, = struct.unpack_from(">Q", data, 48)
    if control_ip == 0:  # "the datagram's source": ours would be another host
        control_ip = struct.unpack(">I", socket.inet_aton(src))[0]
    print(f"heard session {session_id:016x} of {size} bytes at control port {control_port}; "
          f"announcing it as '{a.name}'", flush=True)

    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                  struct.pack("4s4si", socket.inet_aton("0.0.0.0"), socket.inet_aton("0.0.0.0"),
                              ifindex))
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    name = a.name.encode()
    for _ in range(a.count):
        head = b"SHAN" + struct.pack(">BBH", 1, 0, len(name))
        head += struct.pack(">QQ", session_id, int(time.time() * 1000)) + os.urandom(16)
        head += struct.pack(">IHHQ", control_ip, control_port, 0, size)
        tx.sendto(head + name + bytes(TAG), (a.group, a.port))
        time.sleep(0.3)


if __name__ == "__main__":
    main()
