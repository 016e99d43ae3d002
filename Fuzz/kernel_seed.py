#!/usr/bin/env python3
"""A small fuzzing seed from a signed kernel (argv[1]) into argv[2]: its first 4 KB (the PE
headers) followed by its certificate table, with data directory 4 pointing there."""
import struct, sys

kernel = open(sys.argv[1], "rb").read()
pe = struct.unpack_from("<I", kernel, 0x3C)[0]
entry = pe + 24 + 112 + 32
offset, size = struct.unpack_from("<II", kernel, entry)
head = bytearray(kernel[:4096])
struct.pack_into("<II", head, entry, 4096, size)
open(sys.argv[2], "wb").write(bytes(head) + kernel[offset:offset + size])
