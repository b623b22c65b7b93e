"""Generated hostile QR payloads (scenario 12): a deterministic stream of what an attacker can print.

Each case is built from a seeded ``random.Random``, so a failing case number reproduces. The families:
random bytes behind every credential prefix; bit flips, deletions, insertions, truncations and splices of
valid credentials of every type; well-formed containers with hostile contents (base45 of zlib of random CBOR,
COSE with unexpected headers, SHC numeric with random digits and JWS with random segments, CCCD-shaped
records with hostile fields); bombs (zlib, deep CBOR, deep JSON, oversize).
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Iterator, Sequence

import cbor2

from entryscan.device.access.credentials.base45 import b45encode

PREFIXES = (b"ES1:", b"HC1:", b"shc:/", b"", b"HC1", b"shc:/56", b"ES1:" + b"0" * 10)
INSERTS = b"\x00\x1b\n\r|0Z:%/.-\xff\xe2\x80\xae=\"{}[]"


def _numeric(data: bytes) -> bytes:
    """SMART Health Card numeric mode: each character as two digits (char - 45)."""
    return b"".join(b"%02d" % (c - 45) for c in data if 45 <= c <= 122)


def _b64url(rng: random.Random, size: int) -> bytes:
    return bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(size))


def _random_cbor(rng: random.Random, depth: int = 0) -> object:
    pick = rng.randrange(9 if depth < 4 else 5)
    if pick == 0:
        return rng.randrange(-(2**63), 2**63)
    if pick == 1:
        return rng.randbytes(rng.randrange(0, 40))
    if pick == 2:
        return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(0, 20)))
    if pick == 3:
        return rng.choice([None, True, False, 1.5, float("nan")])
    if pick == 4:
        return rng.choice([1, 4, 6, 18, -260, -259, 61, "v", "dob", "nam"])
    if pick in (5, 6):
        return [_random_cbor(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    if pick == 7:
        return cbor2.CBORTag(rng.choice([18, 1, 0, 258, 28, 29, 55799]), _random_cbor(rng, depth + 1))
    keys = [rng.choice([1, 4, 6, -260, 1, "v", "t", "r", rng.randrange(-300, 300)]) for _ in range(rng.randrange(0, 5))]
    return {k: _random_cbor(rng, depth + 1) for k in keys}


def _hostile_cose(rng: random.Random) -> bytes:
    protected = cbor2.dumps({1: rng.choice([-7, -8, 0, 5, -37, -257, "ES256"]), 4: rng.randbytes(8)})
    unprotected = _random_cbor(rng, 2) if rng.random() < 0.5 else {}
    payload = cbor2.dumps({1: "XX", 4: rng.randrange(2**31), 6: 0, -260: {1: _random_cbor(rng, 1)}})
    body = [protected, unprotected, payload, rng.randbytes(rng.choice([0, 32, 64, 65, 200]))]
    raw = cbor2.dumps(cbor2.CBORTag(18, body) if rng.random() < 0.8 else body)
    return rng.choice([b"HC1:", b"ES1:"]) + b45encode(zlib.compress(raw) if rng.random() < 0.8 else raw).encode()


def _hostile_jws(rng: random.Random) -> bytes:
    header = json.dumps(rng.choice([{"alg": "none"}, {"alg": "ES256", "zip": "DEF", "kid": "x" * 43},
                                    {"alg": "HS256", "zip": "DEF"}, {"alg": "ES256"}, [], "x"])).encode()
    import base64

    def enc(b: bytes) -> bytes:
        return base64.urlsafe_b64encode(b).rstrip(b"=")

    body = zlib.compress(json.dumps({"iss": "https://spec.smarthealth.cards/examples/issuer",
                                     "vc": _random_cbor(rng, 1) if rng.random() < 0.5 else {}},
                                    default=repr).encode())[2:-4]
    jws = b".".join([enc(header), enc(body) if rng.random() < 0.7 else _b64url(rng, 50), _b64url(rng, 86)])
    return b"shc:/" + _numeric(jws)


def _hostile_cccd(rng: random.Random) -> bytes:
    fields = [f"{rng.randrange(10**12):012d}", f"{rng.randrange(10**9):09d}", "Nguyễn Văn An", "01011990",
              "Nam", "Hà Nội", "15042021"]
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(fields))
        fields[i] = rng.choice(["", "\u202e" * 5, "\x00", "9" * 300, "|", "A\r\nB", "\ud7ff" * 3, "31021990",
                                "99999999", "<script>", fields[i] * 40])
    if rng.random() < 0.2:
        fields = fields[: rng.randrange(len(fields))] + fields
    return "|".join(fields).encode("utf-8", "surrogatepass")


def _bomb(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return b"HC1:" + b45encode(zlib.compress(b"\x00" * rng.choice([70_000, 500_000]), 9)).encode()
    if kind == 1:
        return b"ES1:" + b45encode(zlib.compress(b"\x81" * 2000 + b"\x00")).encode()
    if kind == 2:
        return b"shc:/" + _numeric(b"eyJhbGciOiJFUzI1NiJ9." + b"W" * 3000 + b".AA")
    if kind == 3:
        return rng.choice(PREFIXES) + b"0" * rng.choice([4097, 4300, 9000])
    return b"[" * 3000 + b"]" * 3000


class HostileQr:
    """A seeded stream of hostile payloads derived from ``valid`` (one valid payload per credential type)."""

    def __init__(self, valid: Sequence[bytes], seed: int = 13) -> None:
        self.valid = tuple(valid)
        self.rng = random.Random(seed)
        self.families: tuple[Callable[[], bytes], ...] = (
            self._random_bytes, self._mutated, self._mutated, self._mutated, self._spliced,
            lambda: _hostile_cose(self.rng), lambda: _hostile_jws(self.rng), lambda: _hostile_cccd(self.rng),
            self._random_cbor_credential,
        )
        # Bombs cost milliseconds each, so a fixed few of them are replayed rather than rebuilt.
        self.bombs = [_bomb(self.rng) for _ in range(24)]

    def cases(self, count: int) -> Iterator[bytes]:
        for i in range(count):
            if i % 97 == 0:
                yield self.bombs[(i // 97) % len(self.bombs)]
                continue
            payload = self.families[i % len(self.families)]()
            if payload in self.valid:  # a mutation that undid itself is not hostile
                payload += b"\x00"
            yield payload

    def _random_bytes(self) -> bytes:
        return self.rng.choice(PREFIXES) + self.rng.randbytes(self.rng.randrange(0, 700))

    def _mutated(self) -> bytes:
        rng = self.rng
        payload = bytearray(rng.choice(self.valid))
        for _ in range(rng.randrange(1, 5)):
            if not payload:
                payload = bytearray(b"x")
            pos = rng.randrange(len(payload))
            action = rng.randrange(5)
            if action == 0:
                payload[pos] ^= 1 << rng.randrange(8)
            elif action == 1:
                del payload[pos]
            elif action == 2:
                payload.insert(pos, rng.choice(INSERTS))
            elif action == 3:
                del payload[pos:]
            else:
                payload[pos:pos] = payload[pos: pos + rng.randrange(1, 40)]
        return bytes(payload)

    def _spliced(self) -> bytes:
        a, b = self.rng.choice(self.valid), self.rng.choice(self.valid)
        return a[: self.rng.randrange(len(a) + 1)] + b[self.rng.randrange(len(b) + 1):]

    def _random_cbor_credential(self) -> bytes:
        raw = cbor2.dumps(_random_cbor(self.rng), default=lambda enc, value: enc.encode(repr(value)))
        return self.rng.choice([b"HC1:", b"ES1:"]) + b45encode(zlib.compress(raw)).encode()
