"""Build the ordered verifier list from the validated config.

Order matters because the policy hands a payload to the first verifier whose
``matches`` is true: the prefix-matched types (ES1:, HC1:, shc:/) first, then
the CCCD shape test, and the badge list last because it matches everything.
"""

from __future__ import annotations

from entryscan.device.access.credentials.badge import BadgeList
from entryscan.device.access.credentials.base import CredentialVerifier
from entryscan.device.access.credentials.cccd import CccdVerifier
from entryscan.device.config.credentials import CredentialsConfig


def build_verifiers(cfg: CredentialsConfig, key_for_badges: bytes) -> list[CredentialVerifier]:
    """Read each enabled type's trust material; raises ConfigError naming the key on bad files.

    The signed types are imported only when configured: cryptography and cbor2 add
    about 14 MB of RSS, which a badge-only door should not pay on a Pi.
    """
    verifiers: list[CredentialVerifier] = []
    if cfg.signed_pass is not None:
        from entryscan.device.access.credentials.signed_pass import SignedPassVerifier

        verifiers.append(SignedPassVerifier.from_files(cfg.signed_pass.trusted_keys))
    if cfg.eu_dcc is not None:
        from entryscan.device.access.credentials.eu_dcc import EuDccVerifier

        verifiers.append(EuDccVerifier.from_file(cfg.eu_dcc.trust_list, cfg.eu_dcc.rules))
    if cfg.shc is not None:
        from entryscan.device.access.credentials.shc import ShcVerifier

        verifiers.append(ShcVerifier.from_config(cfg.shc))
    if cfg.cccd is not None and cfg.cccd.enabled:
        registered = cfg.cccd.registered_file
        verifiers.append(CccdVerifier() if registered is None else CccdVerifier.from_file(key_for_badges, registered))
    if cfg.badge is not None:
        verifiers.append(BadgeList.from_file(key_for_badges, cfg.badge.codes_file))
    return verifiers
