"""The site's certificate authority: one EC P-256 CA per site, and the certificates it signs.

Private keys are written with ``entryscan.device.keys.write_new`` (0600 from the first
byte, never over an existing file) and never printed. Device and collector
certificates carry only the clientAuth usage and the broker's only serverAuth,
so one cannot stand in for the other; the device's CN is its MQTT username
(``use_identity_as_username``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from entryscan.device.errors import ConfigError
from entryscan.device.keys import _read_private, write_new

CA_YEARS = 20
LEAF_DAYS = 5 * 365
MAX_CSR_BYTES = 16 * 1024
LeafKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def private_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_private(path: Path, data: bytes) -> None:
    """Create a secret file 0600; an existing file is an error, never overwritten."""
    try:
        write_new(path, data)
    except FileExistsError:
        raise ConfigError(str(path), "already exists; refusing to overwrite a key") from None


def new_ca(site: str, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"entryscan site CA {site}"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@dataclass(frozen=True)
class SiteCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def load(cls, site_dir: Path) -> SiteCA:
        try:
            key = serialization.load_pem_private_key(_read_private(site_dir / "ca.key", "ca.key"), password=None)
            cert = x509.load_pem_x509_certificate((site_dir / "ca.pem").read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(str(site_dir), f"cannot load the site CA (ca.key, ca.pem): {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(str(site_dir / "ca.key"), "is not an EC key")
        return cls(key, cert)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, public_key: LeafKey, *, server_hosts: tuple[str, ...] = ()) -> x509.Certificate:
        """A leaf for ``common_name``: a client certificate, or a server one when hosts are given."""
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_hosts else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject).public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, True, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if server_hosts:
            builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(h) for h in server_hosts]),
                                            critical=False)
        return builder.sign(self.key, hashes.SHA256())


def revocation_list(ca: SiteCA, serials: list[int], valid_days: int = LEAF_DAYS) -> bytes:
    """A CRL (PEM) of ``serials``, signed by the site CA. Its nextUpdate is far off on purpose: mosquitto refuses
    every client once a CRL has expired, and the CA is kept offline, so the list is renewed only with a device
    removal (or a ``broker`` run) rather than on a schedule."""
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
               .last_update(now - dt.timedelta(hours=1)).next_update(now + dt.timedelta(days=valid_days)))
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def new_leaf_key(path: Path) -> ec.EllipticCurvePublicKey:
    """A new P-256 key written 0600 at ``path``; returns its public half."""
    key = ec.generate_private_key(ec.SECP256R1())
    write_private(path, private_pem(key))
    return key.public_key()


def csr_public_key(path: Path, device: str) -> LeafKey:
    """The public key of a device's CSR, after checking its signature, key type and CN."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CSR_BYTES + 1)
        if len(data) > MAX_CSR_BYTES:
            raise ConfigError("--csr", f"{path} is larger than {MAX_CSR_BYTES} bytes")
        csr = x509.load_pem_x509_csr(data)
    except OSError as exc:
        raise ConfigError("--csr", f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError("--csr", f"{path} is not a PEM certificate request: {exc}") from None
    if not csr.is_signature_valid:
        raise ConfigError("--csr", "the request's signature does not verify")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names and names[0].value != device:
        raise ConfigError("--csr", f"the request is for CN={names[0].value!r}, not {device!r}")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1"):
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return key
    raise ConfigError("--csr", "the key must be EC P-256/P-384 or RSA of at least 2048 bits")
