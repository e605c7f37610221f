"""A strict msgpack reader for emorig's ZeroMQ payloads (maps of strings, numbers, arrays, bin).

Only used when pyzmq is importable in Blender's Python; the msgpack package is not
assumed. Extension types are refused: emorig never sends them.
"""

from __future__ import annotations

import struct

MAX_DEPTH = 8


class MsgpackError(ValueError):
    """Bytes that are not one msgpack value."""


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise MsgpackError("value runs past the end")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def text(self, n: int) -> str:
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise MsgpackError("string is not UTF-8") from None

    def value(self, depth: int = 0):
        if depth > MAX_DEPTH:
            raise MsgpackError("nested too deep")
        b = self.unpack("B")
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, depth)
        if 0x90 <= b <= 0x9F:
            return [self.value(depth + 1) for _ in range(b & 0x0F)]
        if 0xA0 <= b <= 0xBF:
            return self.text(b & 0x1F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if b in simple:
            return simple[b]
        sized = {0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}  # bin 8/16/32
        if b in sized:
            return self.take(self.unpack(sized[b]))
        numbers = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q"}
        numbers.update({0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"})
        if b in numbers:
            return self.unpack(numbers[b])
        strings = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}
        if b in strings:
            return self.text(self.unpack(strings[b]))
        if b in (0xDC, 0xDD):
            return [self.value(depth + 1) for _ in range(self.unpack(">H" if b == 0xDC else ">I"))]
        if b in (0xDE, 0xDF):
            return self.map(self.unpack(">H" if b == 0xDE else ">I"), depth)
        raise MsgpackError(f"unsupported msgpack type byte 0x{b:02x}")

    def map(self, n: int, depth: int) -> dict:
        out = {}
        for _ in range(n):
            k = self.value(depth + 1)
            if not isinstance(k, (str, int)):
                raise MsgpackError("map key is not a string or integer")
            out[k] = self.value(depth + 1)
        return out


def unpackb(data: bytes):
    """One msgpack value from `data`; MsgpackError if malformed or followed by extra bytes."""
    reader = _Reader(bytes(data))
    value = reader.value()
    if reader.at != len(reader.data):
        raise MsgpackError(f"{len(reader.data) - reader.at} bytes after the value")
    return value
