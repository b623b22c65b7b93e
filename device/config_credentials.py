"""Config sections for the trust material of each credential type (``[credentials.*]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BadgeConfig:
    codes_file: Path


@dataclass(frozen=True)
class CredentialsConfig:
    badge: BadgeConfig | None = None
