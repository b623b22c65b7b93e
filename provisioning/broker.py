"""``broker``: a complete mosquitto configuration for the site, its ACL generated from the manifest.

TLS only (1.2 or newer), a client certificate from the site CA required, the
certificate's CN used as the MQTT username, no anonymous clients, persistence
on. Each device may write only its own topics and the Home Assistant discovery
topics it publishes, and read only its own commands, its own delivery
confirmations (CONFIRM contract), its site's lists and the entry events of its
site's doors (anti-passback across doors: an exit clears the entrance). The collector reads
every door's entry/alert/status/state and writes the confirmations.

Running it again after ``device add`` regenerates ``acl`` and ``mosquitto.conf``
and keeps the existing server and collector keys and certificates.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from cryptography import x509

from entryscan.device.errors import ConfigError
from entryscan.device.keys import write_new
from entryscan.provisioning import manifest
from entryscan.provisioning.pki import SiteCA, cert_pem, new_leaf_key, revocation_list

COLLECTOR = "collector"
DEVICE_WRITES = ("status", "state", "entry", "alert", "cmd/+/result")
COLLECTOR_READS = ("entry", "alert", "status", "state")


def device_acl(prefix: str, site: str, device: str, discovery_prefix: str = "homeassistant") -> list[str]:
    base = f"{prefix}/{site}/{device}"
    return [
        f"user {device}",
        *(f"topic write {base}/{leaf}" for leaf in DEVICE_WRITES),
        f"topic write {discovery_prefix}/device/{device}/config",
        f"topic write {discovery_prefix}/tag/{device}/scan/config",
        f"topic read {base}/cmd/+",
        f"topic read {base}/confirm",
        f"topic read {prefix}/{site}/lists/#",
        f"topic read {prefix}/{site}/+/entry",  # peer doors' passages, for anti-passback across the site
        f"topic read {discovery_prefix}/status",
        f"topic readwrite {base}/selftest",  # entryscan selftest's publish round trip
        "",
    ]


def collector_acl(prefix: str) -> list[str]:
    return [f"user {COLLECTOR}", *(f"topic read {prefix}/+/+/{leaf}" for leaf in COLLECTOR_READS),
            f"topic write {prefix}/+/+/confirm", ""]


def render_acl(site: manifest.Manifest) -> str:
    # mosquitto applies the lines above the first "user" to every client, anonymous or not: keep it empty.
    lines = [f"# mosquitto ACL for site {site.site}, generated from site.toml by entryscan-provision broker.",
             "# The username is the client certificate's CN (use_identity_as_username true).", ""]
    lines += collector_acl(site.prefix)
    for device in site.devices:
        lines += device_acl(site.prefix, site.site, device.id)
    return "\n".join(lines)


def render_conf(out: Path, port: int, bind: str, data_dir: Path) -> str:
    lines = [
        "# mosquitto configuration written by entryscan-provision broker; run: mosquitto -c THIS_FILE",
        "per_listener_settings false",
        "allow_anonymous false",
        f"acl_file {out / 'acl'}",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_interval 60",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "",
        f"listener {port}{' ' + bind if bind else ''}",
        "protocol mqtt",
        f"cafile {out / 'ca.pem'}",
        f"certfile {out / 'server.pem'}",
        f"keyfile {out / 'server.key'}",
        "tls_version tlsv1.2",
        "require_certificate true",
        "use_identity_as_username true",
        f"crlfile {out / 'crl.pem'}",
        "",
    ]
    return "\n".join(lines)


def _replace_text(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    write_new(tmp, text.encode(), mode)
    os.replace(tmp, path)


def _leaf(ca: SiteCA, out: Path, name: str, common_name: str, hosts: tuple[str, ...] = ()) -> None:
    """Issue NAME.pem/NAME.key once; an existing pair is kept (keys are never overwritten)."""
    key_path, cert_path = out / f"{name}.key", out / f"{name}.pem"
    if key_path.exists() and cert_path.exists():
        if hosts and not _names_host(cert_path, hosts[0]):
            raise ConfigError("--host", f"{cert_path} was issued for another host; move {out} aside first")
        return
    if key_path.exists():
        raise ConfigError(str(key_path), f"exists without {cert_path.name}; remove it or restore the certificate")
    public_key = new_leaf_key(key_path)
    _replace_text(cert_path, cert_pem(ca.issue(common_name, public_key, server_hosts=hosts)).decode())


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.?)*", host)) and len(host) <= 253


def _names_host(cert_path: Path, host: str) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [str(n.value) for n in san]
    return host in names


def write_broker(site_dir: Path, out: Path, host: str, port: int = 8883, bind: str = "",
                 data_dir: Path | None = None) -> list[Path]:
    """Write (or refresh) the broker folder ``out``; returns the files in it."""
    site = manifest.load(site_dir)
    if not _valid_host(host):
        raise ConfigError("--host", f"not a host name or address: {host!r}")
    if not 1 <= port <= 65535:
        raise ConfigError("--port", "must be 1..65535")
    out = out.resolve()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = (data_dir or out / "data").resolve()
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = SiteCA.load(site_dir)
    _replace_text(out / "ca.pem", ca.pem.decode())
    _leaf(ca, out, "server", host, (host,))
    _leaf(ca, out, COLLECTOR, COLLECTOR)
    _replace_text(out / "acl", render_acl(site))
    revoked = [int(d.certificate_serial, 16) for d in site.retired_devices if d.certificate_serial]
    _replace_text(out / "crl.pem", revocation_list(ca, revoked).decode())
    _replace_text(out / "mosquitto.conf", render_conf(out, port, bind, data))
    return sorted(p for p in out.iterdir() if p.is_file())
