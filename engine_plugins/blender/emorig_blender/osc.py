"""A strict OSC 1.0 reader: datagram bytes in, (address, type tags, arguments) out.

Blender's Python has no python-osc, and the add-on vendors nothing, so this is the
small subset emorig's sinks use. Anything that does not parse raises OscError, so
the receiver can count the datagram and drop it.
"""

from __future__ import annotations

import struct

BUNDLE_TAG = b"#bundle\x00"
MAX_BUNDLE_DEPTH = 4  # nested bundles are legal OSC; a deep nest is an attack, not a sender


class OscError(ValueError):
    """A datagram that is not OSC 1.0."""


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.find(b"\x00", at)
    if end < 0:
        raise OscError(f"string at byte {at} has no NUL terminator")
    try:
        text = data[at:end].decode("utf-8")
    except UnicodeDecodeError:
        raise OscError(f"string at byte {at} is not UTF-8") from None
    after = (end + 4) & ~3  # NUL-terminated, padded to a multiple of 4
    if after > len(data):
        raise OscError(f"string at byte {at} runs past the end")
    return text, after


def _fixed(data: bytes, at: int, fmt: str, size: int):
    if at + size > len(data):
        raise OscError(f"argument at byte {at} runs past the end")
    return struct.unpack_from(fmt, data, at)[0], at + size


# Type tag -> how to read its argument; tags with no payload give a constant.
_FIXED = {"i": (">i", 4), "f": (">f", 4), "d": (">d", 8), "h": (">q", 8), "t": (">Q", 8)}
_CONSTANT = {"T": True, "F": False, "N": None, "I": float("inf")}


def parse_message(data: bytes) -> tuple[str, str, list]:
    """One OSC message -> (address, type tags without the comma, arguments)."""
    if not data.startswith(b"/"):
        raise OscError("an OSC message starts with '/'")
    address, at = _string(data, 0)
    if at == len(data):
        return address, "", []  # OSC 1.0 allows a message with no type tag string
    tags, at = _string(data, at)
    if not tags.startswith(","):
        raise OscError("type tags must start with ','")
    args = []
    for tag in tags[1:]:
        if tag in _FIXED:
            value, at = _fixed(data, at, *_FIXED[tag])
        elif tag == "s":
            value, at = _string(data, at)
        elif tag == "b":
            size, at = _fixed(data, at, ">i", 4)
            if size < 0 or at + size > len(data):
                raise OscError(f"blob of {size} bytes runs past the end")
            value, at = data[at : at + size], (at + size + 3) & ~3
        elif tag in _CONSTANT:
            value = _CONSTANT[tag]
        else:
            raise OscError(f"unsupported type tag {tag!r}")
        args.append(value)
    if at != len(data):
        raise OscError(f"{len(data) - at} bytes after the last argument")
    return address, tags[1:], args


def parse_packet(data: bytes, depth: int = 0) -> tuple[int | None, list[tuple[str, str, list]]]:
    """A datagram -> (bundle time tag or None, its messages in order, nested bundles flattened)."""
    data = bytes(data)
    if not data.startswith(b"#"):
        return None, [parse_message(data)]
    if depth >= MAX_BUNDLE_DEPTH:
        raise OscError("bundles nested too deep")
    if len(data) < 16 or not data.startswith(BUNDLE_TAG):
        raise OscError("not an OSC bundle")
    (timetag,) = struct.unpack_from(">Q", data, 8)
    at, messages = 16, []
    while at < len(data):
        size, at = _fixed(data, at, ">i", 4)
        if size <= 0 or size % 4 or at + size > len(data):
            raise OscError(f"bundle element of {size} bytes does not fit at byte {at - 4}")
        messages += parse_packet(data[at : at + size], depth + 1)[1]
        at += size
    return timetag, messages
