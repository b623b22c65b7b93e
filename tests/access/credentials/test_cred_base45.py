"""Base45 (RFC 9285): the RFC's examples, strict rejection, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entryscan.device.access.credentials.base45 import ALPHABET, b45decode, b45encode
from entryscan.device.errors import CredentialError

RFC_EXAMPLES = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")]


@pytest.mark.parametrize(("raw", "text"), RFC_EXAMPLES)
def test_rfc_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize(
    ("text", "why"),
    [("GGW", "triple 65536 > 65535"), (":::", "triple far above 65535"), ("Z9", "pair 440 > 255"),
     ("BB8A", "stray fourth character"), ("bb8", "lower case is not in the alphabet"),
     ("BB\u00e9", "non-ASCII"), ("BB8\n", "newline")],
)
def test_rejects_invalid(text: str, why: str) -> None:
    with pytest.raises(CredentialError) as info:
        b45decode(text)
    assert info.value.reason == "malformed", why


def test_largest_values_decode() -> None:
    assert b45decode("FGW") == b"\xff\xff"
    assert b45decode("U5") == b"\xff"


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


@settings(max_examples=200)
@given(st.text(alphabet=ALPHABET + "abc\x00\u202e", max_size=60))
def test_arbitrary_text_decodes_or_is_malformed(text: str) -> None:
    try:
        out = b45decode(text)
    except CredentialError as exc:
        assert exc.reason == "malformed"
    else:
        # Strictness means a decodable text is the one canonical encoding of its bytes.
        assert b45encode(out) == text
