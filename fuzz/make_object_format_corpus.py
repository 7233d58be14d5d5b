#!/usr/bin/env python3
"""Writes the seed corpus for object_format_fuzz into fuzz/corpus/object_format/.

Built from the format text in docs/protocol.md section 8 (packed tree, chunked zstd),
independent of the C++ code. The zstd chunk is a hand-made one-block RLE frame (RFC 8878).
Deterministic: rerunning rewrites the same files.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "object_format")
DIR, FILE, LINK = 1, 2, 3


def tree(entries, root_mode=0o755):
    """entries: (type, path, mode, data_or_target)"""
    table = b""
    sizes = []
    for typ, path, mode, payload in entries:
        p = path.encode()
        tgt = payload if typ == LINK else b""
        table += struct.pack(">BBHIqIQQH", typ, 0, len(p), mode, 1600000000, 5, 0, 0, len(tgt))
        table += p + tgt
    head_len = 40
    data_at = head_len + len(table)
    # second pass with sizes and offsets of files
    table = b""
    data = b""
    for typ, path, mode, payload in entries:
        p = path.encode()
        tgt = payload if typ == LINK else b""
        size = len(payload) if typ == FILE else 0
        off = data_at + len(data) if typ == FILE else 0
        table += struct.pack(">BBHIqIQQH", typ, 0, len(p), mode, 1600000000, 5, size, off, len(tgt))
        table += p + tgt
        if typ == FILE:
            data += payload
    head = b"SHOALTRE" + struct.pack(">HHIqIIQ", 1, 0, root_mode, 1600000000, 0, len(entries), len(table))
    return head + table + data


def rle_frame(byte, size):
    # magic, FHD (single segment, 2-byte content size), size - 256, RLE last block of `size`.
    return (struct.pack("<I", 0xFD2FB528) + bytes([0x60]) + struct.pack("<H", size - 256)
            + struct.pack("<I", 1 | (1 << 1) | (size << 3))[:3] + bytes([byte]))


def chunks(parts, chunk_size=4096):
    """parts: list of (kind, stored bytes); kind 0 hole, 1 zstd, 2 raw; every chunk full but the last raw may be short."""
    original = 0
    for i, (kind, stored) in enumerate(parts):
        original += len(stored) if kind == 2 else chunk_size
    head = b"SHOALZST" + struct.pack(">HHIQII", 1, 0, chunk_size, original, len(parts), 0)
    at = len(head) + 16 * len(parts)
    index = b""
    data = b""
    for kind, stored in parts:
        if kind == 0:
            index += struct.pack(">QIB3x", 0, 0, 0)
        else:
            index += struct.pack(">QIB3x", at + len(data), len(stored), kind)
            data += stored
    return head + index + data


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "tree-small": tree([(DIR, "etc", 0o755, b""), (FILE, "etc/hosts", 0o644, b"127.0.0.1 localhost\n"),
                            (DIR, "empty", 0o700, b""), (LINK, "hosts", 0o777, b"etc/hosts"),
                            (FILE, "run.sh", 0o755, b"#!/bin/sh\n")]),
        "tree-empty": tree([]),
        "chunks-mixed": chunks([(2, bytes(range(256)) * 16), (0, b""), (1, rle_frame(0x41, 4096)),
                                (2, b"tail of the object")]),
        "chunks-holes": chunks([(0, b""), (0, b""), (2, b"x" * 100)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
