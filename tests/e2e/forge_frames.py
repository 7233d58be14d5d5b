#!/usr/bin/env python3
"""Injects hostile datagrams into a running shoal session's multicast group (for e2e_forged_frames).

Five kinds, interleaved, COUNT of each:
  garbage  random bytes of random length (some shorter than the 32-byte header)
  badcrc   a well-formed shoal DATA header (the real session id when given) whose CRC32C is wrong
  foreign  a frame with a valid CRC32C but another session's id
  untagged a frame of the real session with a valid CRC32C but no authentication tag
  wrongtag a frame of the real session flagged AUTH with a 16-byte tag that is random (valid CRC)
--capture FILE: join the group, record COUNT real datagrams into FILE (u16 length + bytes each).
--replay FILE: send the datagrams recorded in FILE (an earlier session's, or this one's).
With --poison, only one kind instead, COUNT of it:
  poison   a valid frame of the real session (valid CRC, right k and symbol size) for blocks
           FIRST..FIRST+BLOCKS-1, with a random payload: only the per-block SHA-256 can catch it
The wire layout follows engine/wire.h (32-byte big-endian header, CRC32C over header-with-zero-CRC
then payload). The CRC is computed here independently of shoal's code and checked against the
standard check value before anything is sent.
"""
import argparse
import os
import random
import socket
import struct
import sys
import time


def make_crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = make_crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def frame(session: int, block: int, k: int, esi: int, seq: int, payload: bytes, crc_ok: bool,
          tag: bytes = b"") -> bytes:
    flags = (0x01 if esi >= k else 0x00) | (0x02 if tag else 0x00)
    head = struct.pack(">2sBBBBBBQIHHI", b"SH", 1, 1, flags, k, esi, len(tag), session, block, 0,
                       len(payload), seq)
    crc = crc32c(head + b"\0\0\0\0" + payload + tag)
    if not crc_ok:
        crc ^= 1 << random.randrange(32)
    return head + struct.pack(">I", crc) + payload + tag


def capture(a) -> int:
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    r.bind((a.group, a.port))
    r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(a.group) + socket.inet_aton(a.source))
    r.settimeout(30)
    # The test waits for this line before it starts the session to record.
    print(f"forge_frames: joined {a.group}:{a.port}, capturing", flush=True)
    with open(a.capture, "wb") as out:
        for _ in range(a.count):
            d = r.recv(65535)
            out.write(struct.pack(">H", len(d)) + d)
    print(f"forge_frames: captured {a.count} datagrams of {a.group}:{a.port} into {a.capture}", flush=True)
    return 0


def replay(a, s, dest) -> int:
    n = 0
    for path in a.replay:
        data = open(path, "rb").read()
        i = 0
        while i + 2 <= len(data):
            (length,) = struct.unpack(">H", data[i:i + 2])
            s.sendto(data[i + 2:i + 2 + length], dest)
            i += 2 + length
            n += 1
            time.sleep(0.001)
    print(f"forge_frames: replayed {n} recorded datagrams to {a.group}:{a.port}", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--source", required=True, help="local address to send from (the interface's)")
    ap.add_argument("--session", default="", help="the running session's id in hex (from a receiver's log)")
    ap.add_argument("--count", type=int, default=300, help="datagrams of each kind")
    ap.add_argument("--first-block", type=int, default=0)
    ap.add_argument("--blocks", type=int, default=16, help="block indexes to aim at: FIRST..FIRST+BLOCKS-1")
    ap.add_argument("--poison", action="store_true", help="send only valid frames of the real session")
    ap.add_argument("--k", type=int, default=64, help="source symbols per block (for --poison)")
    ap.add_argument("--symbol-size", type=int, default=1408, help="payload size (for --poison)")
    ap.add_argument("--capture", help="record COUNT datagrams of the group into this file")
    ap.add_argument("--replay", action="append", default=[], help="send the datagrams recorded in this file")
    a = ap.parse_args()
    if a.capture:
        return capture(a)

    assert crc32c(b"123456789") == 0xE3069283, "CRC32C self-check failed"
    real = int(a.session, 16) if a.session else random.getrandbits(64)
    foreign = real ^ (random.getrandbits(63) | 1)  # never equal to the real id

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.source))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    dest = (a.group, a.port)
    if a.replay:
        return replay(a, s, dest)
    if a.poison:
        if not a.session:
            sys.exit("forge_frames: --poison needs --session")
        for i in range(a.count):
            block = a.first_block + random.randrange(a.blocks)
            s.sendto(frame(real, block, a.k, random.randrange(a.k), i, os.urandom(a.symbol_size), True), dest)
            time.sleep(0.002)
        print(f"forge_frames: sent {a.count} poison frames for blocks {a.first_block}.."
              f"{a.first_block + a.blocks - 1} of session {real:016x} to {a.group}:{a.port}", flush=True)
        return 0
    sent = {"garbage": 0, "badcrc": 0, "foreign": 0, "untagged": 0, "wrongtag": 0}
    for i in range(a.count):
        n = random.choice([1, 8, 31, 32, 33, 200, 1440, random.randrange(1, 1473)])
        s.sendto(os.urandom(n), dest)
        sent["garbage"] += 1
        payload = os.urandom(random.choice([64, 256, 1408]))
        block, esi = a.first_block + random.randrange(a.blocks), random.randrange(64)
        s.sendto(frame(real, block, 64, esi, i, payload, crc_ok=False), dest)
        sent["badcrc"] += 1
        s.sendto(frame(foreign, block, 64, esi, i, payload, crc_ok=True), dest)
        sent["foreign"] += 1
        s.sendto(frame(real, block, 64, esi, i, payload, crc_ok=True), dest)
        sent["untagged"] += 1
        s.sendto(frame(real, block, 64, esi, i, payload, crc_ok=True, tag=os.urandom(16)), dest)
        sent["wrongtag"] += 1
        time.sleep(0.002)  # spread over the transfer instead of one burst
    print("forge_frames: sent " + ", ".join(f"{v} {k}" for k, v in sent.items()) +
          f" to {a.group}:{a.port} (session {real:016x}, foreign {foreign:016x})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
