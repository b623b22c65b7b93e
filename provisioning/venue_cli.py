"""placeholder"""
from __future__ import annotations

from typing import Any


def add_venue_parsers(sub: Any) -> None:
    del sub
