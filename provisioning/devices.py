"""``device add``: everything one door needs in one folder, its certificate signed by the site CA.

The bundle is what ``scripts/install-pi.sh`` copies to /etc/entryscan: the
config (checked by the device's own parser before it is written), the site CA,
the device certificate (CN = device id = MQTT username), the device key unless
the key was made on the device (``--csr``), the site pseudonym key, the trusted
pass-issuer and list-signer public keys and an empty badge list so the
service starts. The device is then recorded in the manifest, from which the
broker ACL is generated.
"""

from __future__ import annotations

import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from entryscan.device.config.settings import PolicyMode, parse_config
from entryscan.device.errors import ConfigError
from entryscan.device.keys import write_new
from entryscan.provisioning import manifest
from entryscan.provisioning.pki import (
    LeafKey,
    SiteCA,
    cert_pem,
    csr_public_key,
    fingerprint,
    new_leaf_key,
    write_private,
)

ETC = Path("/etc/entryscan")
BADGES_HEADER = "# badge codes admitted at this door, one per line (entryscan reloads on restart)\n"

CONFIG_TEMPLATE = """\
# entryscan config for {device} at {site}/{door}, written by entryscan-provision.
[device]
id = "{device}"
site = "{site}"
door = "{door}"

[camera]
source = "picamera2"

[mqtt]
url = "{broker}"
topic_prefix = "{prefix}"
ca_file = "{etc}/ca.pem"
cert_file = "{etc}/device.pem"
key_file = "{etc}/device.key"

[journal]
path = "/var/lib/entryscan/journal.db"

[policy]
mode = "{policy}"

[credentials.badge]
codes_file = "{etc}/badges.txt"
{trust}
[privacy]
subject_key_file = "{etc}/site.key"
"""


@dataclass(frozen=True)
class DeviceRequest:
    device: str
    door: str
    broker: str
    venue: str = ""
    policy: str = PolicyMode.ALLOWLIST.value
    csr: Path | None = None

    def check(self, site: manifest.Manifest) -> None:
        manifest.check_id(self.device, "--device")
        manifest.check_id(self.door, "--door")
        if self.device in manifest.RESERVED_IDS:
            raise ConfigError("--device", f"{self.device!r} is reserved")
        if site.device(self.device) is not None:
            raise ConfigError("--device", f"{self.device!r} is already in the manifest")
        if self.venue and site.venue(self.venue) is None:
            raise ConfigError("--venue", f"{self.venue!r} is not a venue of this site (venue add first)")
        parts = urllib.parse.urlsplit(self.broker)
        if parts.scheme != "mqtts" or not parts.hostname or parts.username or parts.path not in ("", "/"):
            raise ConfigError("--broker", "must be mqtts://HOST[:PORT] (a provisioned device talks TLS)")


# The site's pass issuer and list signer, for bundles made from a site folder (they carry issuer.pub, lists.pub).
SITE_TRUST = """
[credentials.signed_pass]
trusted_keys = ["{etc}/issuer.pub"]

[lists]
trusted_keys = ["{etc}/lists.pub"]
"""


def device_config(*, device: str, site: str, door: str, broker: str, prefix: str, policy: str,
                  site_trust: bool) -> str:
    """A door's config.toml, checked by the device's own parser (raises ConfigError naming the key)."""
    trust = SITE_TRUST.format(etc=ETC) if site_trust else ""
    text = CONFIG_TEMPLATE.format(etc=ETC, device=device, site=site, door=door, broker=broker, prefix=prefix,
                                  policy=policy, trust=trust)
    parse_config(text, ETC)
    return text


def render_config(site: manifest.Manifest, request: DeviceRequest) -> str:
    return device_config(device=request.device, site=site.site, door=request.door, broker=request.broker,
                         prefix=site.prefix, policy=request.policy, site_trust=True)


def add_device(site_dir: Path, request: DeviceRequest, out: Path) -> list[Path]:
    """Write the bundle into ``out`` (a new folder) and record the device; returns the files written."""
    site = manifest.load(site_dir)
    request.check(site)
    config = render_config(site, request)
    public_key = csr_public_key(request.csr, request.device) if request.csr is not None else None
    ca = SiteCA.load(site_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=False)
    try:
        cert = _write_bundle(site_dir, ca, out, public_key, config)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # a half bundle must not be installed; the folder was ours
        raise
    record = manifest.DeviceRecord(request.device, request.door, request.venue, fingerprint(cert),
                                   f"{cert.serial_number:x}")
    manifest.save(site_dir, site.with_device(record))
    return sorted(out.iterdir())


def _write_bundle(site_dir: Path, ca: SiteCA, out: Path, public_key: LeafKey | None,
                  config: str) -> x509.Certificate:
    device = parse_config(config, ETC).device.id
    if public_key is None:
        public_key = new_leaf_key(out / "device.key")
    cert = ca.issue(device, public_key)
    write_new(out / "device.pem", cert_pem(cert), 0o644)
    write_new(out / "ca.pem", ca.pem, 0o644)
    write_private(out / "site.key", (site_dir / "site.key").read_bytes())
    for public in ("issuer.pub", "lists.pub"):
        shutil.copyfile(site_dir / public, out / public)
    write_new(out / "badges.txt", BADGES_HEADER.encode(), 0o644)
    write_new(out / "config.toml", config.encode(), 0o644)
    return cert


def remove_device(site_dir: Path, device: str) -> manifest.DeviceRecord:
    """Retire ``device``: it leaves the ACL and its certificate goes on the CRL at the next ``broker`` run."""
    site = manifest.load(site_dir)
    record = site.device(device)
    if record is None:
        raise ConfigError("--device", f"{device!r} is not a device of site {site.site}")
    manifest.save(site_dir, site.without_device(device))
    return record
