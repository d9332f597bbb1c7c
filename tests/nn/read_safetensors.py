#!/usr/bin/env python3
"""Independent stdlib-only safetensors reader, used by tests/nn/safetensors.test.ts to check that
files written by webgan are readable by something other than webgan's own decoder.

Usage: python3 read_safetensors.py FILE
Prints {name: {"dtype": ..., "shape": [...], "first": <first value or null>}} as JSON, after
checking the header itself (length prefix, offsets inside the file, byte lengths). Exits 1 with
a message on stderr for a malformed file.
"""
import json
import struct
import sys

# dtype -> (element size, struct format); BF16 is decoded by hand below.
DTYPES = {
    "BOOL": (1, "?"), "U8": (1, "B"), "I8": (1, "b"),
    "I16": (2, "<h"), "U16": (2, "<H"), "F16": (2, "<e"), "BF16": (2, None),
    "I32": (4, "<i"), "U32": (4, "<I"), "F32": (4, "<f"),
    "I64": (8, "<q"), "U64": (8, "<Q"), "F64": (8, "<d"),
}


def fail(message):
    sys.stderr.write("read_safetensors: " + message + "\n")
    sys.exit(1)


def first_value(dtype, raw):
    if dtype == "BF16":
        # bfloat16 is the top half of a float32.
        return struct.unpack("<f", b"\x00\x00" + raw[:2])[0]
    return struct.unpack_from(DTYPES[dtype][1], raw, 0)[0]


def read(path):
    with open(path, "rb") as f:
        content = f.read()
    if len(content) < 8:
        fail("%s: %d bytes, shorter than the 8-byte length prefix" % (path, len(content)))
    (n,) = struct.unpack("<Q", content[:8])
    if n > len(content) - 8:
        fail("%s: header length %d exceeds the file size %d" % (path, n, len(content)))
    header = json.loads(content[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        fail("%s: header is not a JSON object" % path)
    data = content[8 + n:]
    result = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            fail("%s: tensor %r has unknown dtype %r" % (path, name, dtype))
        if not 0 <= begin <= end <= len(data):
            fail("%s: tensor %r has offsets [%d, %d] outside the %d-byte data section" % (path, name, begin, end, len(data)))
        count = 1
        for d in shape:
            count *= d
        size = DTYPES[dtype][0]
        if count * size != end - begin:
            fail("%s: tensor %r needs %d bytes, offsets hold %d" % (path, name, count * size, end - begin))
        raw = data[begin:end]
        result[name] = {"dtype": dtype, "shape": shape, "first": first_value(dtype, raw) if count > 0 else None}
    return result


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: read_safetensors.py FILE")
    print(json.dumps(read(sys.argv[1]), sort_keys=True))
