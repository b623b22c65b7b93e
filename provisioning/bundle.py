"""Build a device's provisioning bundle on the technician's laptop.

The bundle holds what one door needs and nothing another door could reuse:
its own TLS key (0600) and a certificate signing request whose CN is the
device id (mosquitto's ``use_identity_as_username`` turns it into the MQTT
user, so the broker ACL confines the device to its own topics), a config file
that uses TLS, and the ACL lines for the broker. The site's pseudonym key is
shared by the doors of one site on purpose: the same person gets the same
``subject`` at every door of that site, and a different one elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from entryscan.device.config.settings import ID_PATTERN
from entryscan.device.errors import ConfigError
from entryscan.device.keys import load_or_create_key, write_new
from entryscan.provisioning.broker import device_acl
from entryscan.provisioning.devices import device_config


@dataclass(frozen=True)
class DeviceSpec:
    device: str
    site: str
    door: str
    broker: str
    prefix: str = "entryscan"

    def check(self) -> None:
        for name in ("device", "site", "door"):
            if not ID_PATTERN.fullmatch(getattr(self, name)):
                raise ConfigError(f"--{name}", f"must match [a-z0-9][a-z0-9_-]{{0,62}} (got {getattr(self, name)!r})")
        if not self.broker.startswith("mqtts://"):
            raise ConfigError("--broker", "a provisioned device talks TLS: use mqtts://HOST[:PORT]")


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` 0600; an existing file is never overwritten."""
    try:
        write_new(path, data)
    except FileExistsError:
        raise ConfigError(str(path), "already exists; refusing to overwrite a key") from None


def device_key_and_csr(spec: DeviceSpec) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.device),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, spec.site)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem_key, csr.public_bytes(serialization.Encoding.PEM)


def build_bundle(spec: DeviceSpec, site_key: Path, out: Path) -> list[Path]:
    """Write the bundle for one device into ``out`` (created 0700); returns the files written."""
    spec.check()
    out.mkdir(mode=0o700, parents=True, exist_ok=False)
    key_pem, csr_pem = device_key_and_csr(spec)
    write_private(out / "device.key", key_pem)
    (out / "device.csr").write_bytes(csr_pem)
    write_private(out / "site.key", load_or_create_key(site_key, "--site-key"))
    # The bundle must pass the device's own validation; its site runs its own CA and issuers, so no trust keys.
    config = device_config(device=spec.device, site=spec.site, door=spec.door, broker=spec.broker,
                           prefix=spec.prefix, policy="allowlist", site_trust=False)
    (out / "config.toml").write_text(config)
    acl = device_acl(spec.prefix, spec.site, spec.device)  # the same lines `broker` generates from a manifest
    (out / "mosquitto.acl").write_text(f"# mosquitto ACL for {spec.device} (certificate CN = MQTT username)\n"
                                       + "\n".join(acl))
    return sorted(out.iterdir())
