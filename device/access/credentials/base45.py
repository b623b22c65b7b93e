"""Base45 (RFC 9285), written out because it is small and must be strict.

Every departure from the RFC is an error: characters outside the 45-character
alphabet, a length that leaves one stray character (``len % 3 == 1``), a triple
above 65535 and a trailing pair above 255. Lenient decoders accept several
spellings of one byte string, which would let two different QR texts carry the
same signed credential past a reuse check keyed on the text.
"""

from __future__ import annotations

from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def b45encode(data: bytes) -> str:
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode ``text``; raise CredentialError(malformed) on anything RFC 9285 forbids."""
    if len(text) % 3 == 1:
        raise CredentialError(Reason.MALFORMED, "base45 length leaves a stray character")
    try:
        values = [_VALUE[c] for c in text]
    except KeyError:
        raise CredentialError(Reason.MALFORMED, "character outside the base45 alphabet") from None
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 2025
            if n > 0xFFFF:
                raise CredentialError(Reason.MALFORMED, "base45 triple above 65535")
            out += n.to_bytes(2, "big")
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise CredentialError(Reason.MALFORMED, "base45 pair above 255")
            out.append(n)
    return bytes(out)
