"""``site init``: every key a site needs, made fresh for that site, and its manifest.

Nothing is a shared default: each run draws new keys, so two sites never share
one. Private keys are 0600 and an existing site folder is refused outright.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from entryscan.device.errors import ConfigError
from entryscan.device.keys import KEY_BYTES, write_new
from entryscan.provisioning import manifest
from entryscan.provisioning.pki import cert_pem, new_ca, private_pem, public_pem, write_private

# name -> what it is for; each is an Ed25519 pair NAME.key (0600) + NAME.pub
SIGNING_KEYS = {
    "issuer": "signs entry passes (the doors trust issuer.pub)",
    "lists": "signs revocation/allow lists (the doors trust lists.pub)",
    "venues": "signs venue QR boards (poster check and the collector's page trust venues.pub)",
}
SITE_FILES = ("ca.key", "ca.pem", "site.key", manifest.MANIFEST,
              *(f"{n}.{ext}" for n in SIGNING_KEYS for ext in ("key", "pub")))


def init_site(site_dir: Path, site: str, name: str, prefix: str = "entryscan", timezone: str = "",
              language: str = "vi") -> list[Path]:
    """Create the site in ``site_dir`` (new or empty); returns the files written."""
    manifest.check_id(site, "--site")
    manifest.check_timezone(timezone, "--timezone")
    manifest.check_language(language, "--language")
    if site in manifest.RESERVED_IDS:
        raise ConfigError("--site", f"{site!r} is reserved")
    manifest.check_text(name, "--name")
    if not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", prefix):
        raise ConfigError("--prefix", "must be topic levels of [A-Za-z0-9_-] (no wildcards)")
    if site_dir.exists() and any(site_dir.iterdir()):
        raise ConfigError(str(site_dir), "exists and is not empty; refusing to overwrite a site")
    site_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key, ca_cert = new_ca(site, name)
    write_private(site_dir / "ca.key", private_pem(ca_key))
    write_new(site_dir / "ca.pem", cert_pem(ca_cert), 0o644)
    write_private(site_dir / "site.key", secrets.token_bytes(KEY_BYTES))
    for key_name in SIGNING_KEYS:
        key = ed25519.Ed25519PrivateKey.generate()
        write_private(site_dir / f"{key_name}.key", private_pem(key))
        write_new(site_dir / f"{key_name}.pub", public_pem(key.public_key()), 0o644)
    manifest.save(site_dir, manifest.Manifest(site=site, name=name, prefix=prefix, timezone=timezone,
                                                   language=language))
    return [site_dir / f for f in SITE_FILES]
