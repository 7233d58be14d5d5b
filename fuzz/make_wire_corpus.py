#!/usr/bin/env python3
"""Writes the seed corpus for wire_fuzz into fuzz/corpus/wire/ (valid and invalid frames).

Frames are built from the wire-format table in engine/wire.h with a CRC32C written here from its
definition, independent of the C++ code. Deterministic: rerunning rewrites the same files.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")
DATA, BEACON, PROBE = 1, 2, 3
REPAIR, AUTH, ENCRYPTED = 1, 2, 4


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(type_=DATA, flags=0, k=4, esi=0, session=0x1122334455667788, block=7, obj=0,
          payload=b"hello shoal", tag=b"", seq=1, tag_len=None, payload_len=None,
          magic=b"SH", version=1, bad_crc=False) -> bytes:
    tag_len = len(tag) if tag_len is None else tag_len
    payload_len = len(payload) if payload_len is None else payload_len
    head = magic + struct.pack(">BBBBBBQIHHI", version, type_, flags, k, esi, tag_len,
                               session, block, obj, payload_len, seq)
    crc = crc32c(head + b"\0\0\0\0" + payload + tag)
    if bad_crc:
        crc ^= 1
    return head + struct.pack(">I", crc) + payload + tag


def pattern(n: int) -> bytes:
    return bytes((i * 31 + 7) & 0xFF for i in range(n))


SEEDS = {
    "valid_source": frame(),
    "valid_repair_auth": frame(flags=REPAIR | AUTH, k=4, esi=6, tag=pattern(16)),
    "valid_encrypted": frame(flags=AUTH | ENCRYPTED, k=200, esi=3, payload=pattern(1408),
                             tag=pattern(32)),
    "valid_beacon": frame(type_=BEACON, k=1, payload=b"beacon"),
    # The largest frame (9064 bytes) also lifts libFuzzer's default input size limit to it.
    "valid_max_frame": frame(flags=REPAIR | AUTH, k=1, esi=1, payload=pattern(9000),
                             tag=pattern(32)),
    "valid_probe": frame(type_=PROBE, k=1, payload=pattern(64), seq=0xFFFFFFFF),
    "invalid_truncated": frame()[:20],
    "invalid_magic": frame(magic=b"SX"),
    "invalid_version": frame(version=2),
    "invalid_flags": frame(flags=ENCRYPTED),
    "invalid_repair_flag": frame(k=4, esi=5),
    "invalid_tag_without_auth": frame(tag=pattern(8)),
    "invalid_length_mismatch": frame() + b"x",
    "invalid_crc": frame(bad_crc=True),
}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")
