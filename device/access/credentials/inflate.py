"""Bounded decompression: the only way entryscan inflates scanned data.

Deflate expands up to about 1000:1, so a 3 KB QR code could otherwise demand
megabytes. ``max_length`` makes zlib stop producing output at the limit; input
it has not consumed yet stays in ``unconsumed_tail``, which is how a bomb is
recognised without ever holding its expansion in memory.
"""

from __future__ import annotations

import zlib

from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

ZLIB_WBITS = zlib.MAX_WBITS  # RFC 1950 stream with header and Adler-32 (HC1, ES1)
RAW_DEFLATE_WBITS = -zlib.MAX_WBITS  # RFC 1951 without header (SMART Health Cards)


def inflate(data: bytes, limit: int, wbits: int = ZLIB_WBITS) -> bytes:
    """Decompress one complete stream of at most ``limit`` bytes.

    too_large when the output would exceed ``limit``; malformed when the stream
    is corrupt, truncated, or followed by trailing bytes (a second, unsigned
    stream must not ride along unseen).
    """
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error:
        raise CredentialError(Reason.MALFORMED, "compressed data is corrupt") from None
    if inflater.unconsumed_tail or (len(out) >= limit and not inflater.eof):
        raise CredentialError(Reason.TOO_LARGE, f"decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise CredentialError(Reason.MALFORMED, "compressed data is truncated")
    if inflater.unused_data:
        raise CredentialError(Reason.MALFORMED, "trailing bytes after the compressed data")
    return out
