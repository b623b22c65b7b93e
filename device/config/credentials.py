"""Config sections for the trust material of each credential type (``[credentials.*]``).

A section that is absent disables its type. Paths are resolved against the
config file's folder; the files themselves are read when the verifiers are
built (entryscan.device.access.credentials.factory), so a bad trust file is a config error at
start-up, naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from entryscan.device.errors import ConfigError


@dataclass(frozen=True)
class BadgeConfig:
    codes_file: Path


@dataclass(frozen=True)
class SignedPassConfig:
    """``trusted_keys``: PEM public keys (Ed25519 or P-256) whose passes are accepted."""

    trusted_keys: tuple[Path, ...]

    def check(self, where: str) -> None:
        if not self.trusted_keys:
            raise ConfigError(f"{where}.trusted_keys", "must name at least one public key file")


@dataclass(frozen=True)
class EuDccConfig:
    """``trust_list``: JSON array of DSCs; ``rules``: business rules ("none" = valid and unexpired)."""

    trust_list: Path
    rules: Literal["none"] = "none"


@dataclass(frozen=True)
class ShcIssuerConfig:
    """One trusted SMART Health Card issuer: its ``iss`` URL, its JWKS file and optionally a CRL.

    The CRL file names the kid it applies to; list the issuer once per CRL when
    several of its keys have one.
    """

    iss: str
    jwks: Path
    crl: Path | None = None

    def check(self, where: str) -> None:
        if not self.iss.startswith("https://") or self.iss.endswith("/"):
            raise ConfigError(f"{where}.iss", "must be an https:// URL without a trailing slash")


@dataclass(frozen=True)
class ShcConfig:
    issuers: tuple[ShcIssuerConfig, ...]

    def check(self, where: str) -> None:
        if not self.issuers:
            raise ConfigError(f"{where}.issuers", "must list at least one issuer")


@dataclass(frozen=True)
class CccdConfig:
    """Vietnamese citizen ID QR codes: identity capture for visitor registration, not proof.

    ``registered_file``: 12-digit ID numbers of registered visitors, one per line (kept only as
    keyed hashes in memory); required when ``[policy] visitors = "registered"``.
    """

    enabled: bool = True
    registered_file: Path | None = None


@dataclass(frozen=True)
class CredentialsConfig:
    badge: BadgeConfig | None = None
    signed_pass: SignedPassConfig | None = None
    eu_dcc: EuDccConfig | None = None
    shc: ShcConfig | None = None
    cccd: CccdConfig | None = None
