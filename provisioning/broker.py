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

Run as root, mosquitto drops to its own user before it reads ``acl_file`` and the certificates, so the folder,
the files mosquitto reads and its data folder are given to the ``mosquitto`` user (the collector's key stays
root's) and the config names that user; run as anyone else, mosquitto keeps that user and the files stay theirs.
Either way ``mosquitto -c <folder>/mosquitto.conf``, the command in the config's header, starts it.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import re
from pathlib import Path

from cryptography import x509

from entryscan.device.errors import ConfigError
from entryscan.device.keys import write_new
from entryscan.provisioning import manifest
from entryscan.provisioning.pki import SiteCA, cert_pem, new_leaf_key, revocation_list

COLLECTOR = "collector"
# tag: live accepts for Home Assistant's tag scanner; event: live decisions for its event entity.
DEVICE_WRITES = ("status", "state", "entry", "alert", "cmd/+/result", "tag", "event")
COLLECTOR_READS = ("entry", "alert", "status", "state")
BROKER_USER = "mosquitto"  # the user mosquitto drops to when started as root (its default `user`)


def discovery_topics(site: str, device: str, discovery_prefix: str = "homeassistant") -> list[str]:
    """The door's Home Assistant discovery topic, then the two earlier releases used (which it clears)."""
    return [f"{discovery_prefix}/device/entryscan_{site}/{device}/config",
            f"{discovery_prefix}/device/{device}/config",
            f"{discovery_prefix}/tag/{device}/scan/config"]


def device_acl(prefix: str, site: str, device: str, discovery_prefix: str = "homeassistant") -> list[str]:
    base = f"{prefix}/{site}/{device}"
    return [
        f"user {device}",
        *(f"topic write {base}/{leaf}" for leaf in DEVICE_WRITES),
        *(f"topic write {topic}" for topic in discovery_topics(site, device, discovery_prefix)),
        f"topic read {base}/cmd/+",
        f"topic read {base}/confirm",
        f"topic read {prefix}/{site}/lists/#",
        f"topic read {prefix}/{site}/+/entry",  # peer doors' passages, for anti-passback across the site
        f"topic read {discovery_prefix}/status",
        f"topic readwrite {base}/selftest",  # entryscan selftest's publish round trip
        "",
    ]


def collector_acl(prefix: str, site: str = "", devices: tuple[str, ...] = ()) -> list[str]:
    # The collector identity may clear the retained Home Assistant discovery of the site's doors, present and
    # retired: `device remove --broker` does it, so a retired door leaves Home Assistant.
    clear = [f"topic write {t}" for d in devices for t in discovery_topics(site, d)]
    return [f"user {COLLECTOR}", *(f"topic read {prefix}/+/+/{leaf}" for leaf in COLLECTOR_READS),
            f"topic write {prefix}/+/+/confirm", *clear, ""]


def render_acl(site: manifest.Manifest) -> str:
    # mosquitto applies the lines above the first "user" to every client, anonymous or not: keep it empty.
    lines = [f"# mosquitto ACL for site {site.site}, generated from site.toml by entryscan-provision broker.",
             "# The username is the client certificate's CN (use_identity_as_username true).", ""]
    ids = tuple(dict.fromkeys([*(d.id for d in site.devices), *(d.id for d in site.retired_devices)]))
    lines += collector_acl(site.prefix, site.site, ids)
    for device in site.devices:
        lines += device_acl(site.prefix, site.site, device.id)
    return "\n".join(lines)


def render_conf(out: Path, port: int, bind: str, data_dir: Path, user: str) -> str:
    lines = [
        f"# mosquitto configuration written by entryscan-provision broker; run: mosquitto -c {out / 'mosquitto.conf'}",
        f"# Started as root, mosquitto drops to this user, who owns this folder: {user}",
        f"user {user}",
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
    user = _broker_user()
    _replace_text(out / "mosquitto.conf", render_conf(out, port, bind, data, user))
    if os.geteuid() == 0 and user != "root":
        _give(user, [out, data, *(out / n for n in BROKER_READS)])
    return sorted(p for p in out.iterdir() if p.is_file())


# What mosquitto opens after dropping privileges; the collector's key and certificate are not among them.
BROKER_READS = ("ca.pem", "server.pem", "server.key", "acl", "crl.pem", "mosquitto.conf")


def _broker_user() -> str:
    """The user the broker will run as: mosquitto's own when we are root (if it exists), else ourselves."""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(BROKER_USER)
            return BROKER_USER
        except KeyError:
            return "root"  # no mosquitto user on this machine: it would have nobody to drop to
    return pwd.getpwuid(os.geteuid()).pw_name


def _give(user: str, paths: list[Path]) -> None:
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)
