"""The configuration schema: frozen dataclasses, one per TOML section.

``load_config`` is the only function in the firmware that reads the config file;
the daemon's builder hands the resulting object down. Paths are resolved
relative to the config file's folder.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from entryscan.device.config.credentials import CredentialsConfig
from entryscan.device.config.schema import brief, build, resolve_path
from entryscan.device.errors import ConfigError

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
DEFAULT_CONFIG_PATH = Path("/etc/entryscan/config.toml")
MAX_RELAY_PULSE_S = 10.0


def _require(ok: bool, key: str, problem: str) -> None:
    if not ok:
        raise ConfigError(key, problem)


def _check_id(value: str, key: str) -> None:
    _require(
        ID_PATTERN.fullmatch(value) is not None,
        key,
        f"must match [a-z0-9][a-z0-9_-]{{0,62}} (got {brief(value)})",
    )


class PolicyMode(enum.StrEnum):
    """Which credential types a door admits (entryscan.device.access.policy.ADMITTED has the exact sets)."""

    ALLOWLIST = "allowlist"  # badges
    CREDENTIALS = "credentials"  # signed types: signed_pass, eu_dcc, shc
    HEALTH_PASS = "health-pass"  # a valid EU DCC or SMART Health Card
    VISITORS = "visitors"  # CCCD identity capture (see [policy] visitors) plus signed passes
    OPEN = "open"  # log only: everything readable is accepted
    LOCKDOWN = "lockdown"  # only signed passes with role "admin"


@dataclass(frozen=True)
class DeviceConfig:
    id: str
    site: str
    door: str

    def check(self, where: str) -> None:
        for name in ("id", "site", "door"):
            _check_id(getattr(self, name), f"{where}.{name}")


@dataclass(frozen=True)
class CameraConfig:
    source: str = "picamera2"
    size: tuple[int, ...] = (640, 480)
    fps: float = 15.0
    timeout_s: float = 2.0
    autofocus: Literal["continuous", "fixed", "off"] = "continuous"
    lens_position: float = 4.0

    def check(self, where: str) -> None:
        _require(
            self.source == "picamera2" or (self.source.startswith("dir:") and len(self.source) > 4),
            f"{where}.source",
            f"must be 'picamera2' or 'dir:PATH' (got {brief(self.source)})",
        )
        _require(
            len(self.size) == 2 and all(32 <= v <= 4096 for v in self.size),
            f"{where}.size",
            "must be [width, height], each 32..4096",
        )
        _require(0 <= self.fps <= 120, f"{where}.fps", "must be 0..120 (0 = as fast as possible)")
        _require(0.1 <= self.timeout_s <= 60, f"{where}.timeout_s", "must be 0.1..60 seconds")
        _require(0 <= self.lens_position <= 100, f"{where}.lens_position", "must be 0..100 dioptres")

    @property
    def replay_dir(self) -> Path | None:
        return Path(self.source[4:]) if self.source.startswith("dir:") else None


@dataclass(frozen=True)
class DecoderConfig:
    backend: Literal["auto", "zxing", "zbar"] = "auto"
    debounce_s: float = 3.0
    max_payload_bytes: int = 4096

    def check(self, where: str) -> None:
        _require(0 <= self.debounce_s <= 3600, f"{where}.debounce_s", "must be 0..3600 seconds")
        _require(
            64 <= self.max_payload_bytes <= 8192,
            f"{where}.max_payload_bytes",
            "must be 64..8192 (a QR code holds at most 2953 bytes)",
        )


@dataclass(frozen=True)
class FeedbackConfig:
    green_pin: int | None = 17
    red_pin: int | None = 27
    buzzer_pin: int | None = 22
    accept_s: float = 1.5
    deny_s: float = 1.5

    def check(self, where: str) -> None:
        pins = [p for p in (self.green_pin, self.red_pin, self.buzzer_pin) if p is not None]
        for p in pins:
            _require(0 <= p <= 27, where, f"GPIO pin {p} is outside BCM 0..27")
        _require(len(pins) == len(set(pins)), where, "two outputs share one GPIO pin")
        for name in ("accept_s", "deny_s"):
            _require(0.1 <= getattr(self, name) <= 10, f"{where}.{name}", "must be 0.1..10 seconds")


@dataclass(frozen=True)
class TamperConfig:
    """An enclosure switch: closed to ground while the case is shut (internal pull-up)."""

    pin: int | None = None
    lockout: bool = False

    def check(self, where: str) -> None:
        if self.pin is not None:
            _require(0 <= self.pin <= 27, f"{where}.pin", "must be a BCM GPIO number 0..27")


@dataclass(frozen=True)
class RelayConfig:
    pin: int | None = None
    active_low: bool = False
    pulse_s: float = 3.0

    def check(self, where: str) -> None:
        if self.pin is not None:
            _require(0 <= self.pin <= 27, f"{where}.pin", "must be a BCM GPIO number 0..27")
        _require(
            0.1 <= self.pulse_s <= MAX_RELAY_PULSE_S,
            f"{where}.pulse_s",
            f"must be 0.1..{MAX_RELAY_PULSE_S:g} seconds (a door must never be held open by software)",
        )


@dataclass(frozen=True)
class PolicyConfig:
    """``visitors``: where CCCD is accepted ("registered" = on credentials.cccd.registered_file,
    "log" = any well-formed card). ``direction``/``passback_window_s``: local anti-passback."""

    mode: PolicyMode = PolicyMode.ALLOWLIST
    require_synced_clock: bool = True
    visitors: Literal["none", "registered", "log"] = "none"
    direction: Literal["none", "in", "out"] = "none"
    passback_window_s: float = 3600.0

    def check(self, where: str) -> None:
        _require(self.mode is not PolicyMode.VISITORS or self.visitors != "none", f"{where}.visitors",
                 "must be 'registered' or 'log' when mode = 'visitors'")
        _require(1 <= self.passback_window_s <= 30 * 24 * 3600, f"{where}.passback_window_s",
                 "must be 1..2592000 seconds")


@dataclass(frozen=True)
class ListsConfig:
    """Signed revocation/allow lists (entryscan.device.access.lists). ``trusted_keys``: PEM public keys of list signers."""

    trusted_keys: tuple[Path, ...]
    max_age_s: float = 7 * 24 * 3600.0
    on_stale: Literal["closed", "open"] = "closed"
    expected: tuple[str, ...] = ()
    path: Path | None = None

    def check(self, where: str) -> None:
        _require(bool(self.trusted_keys), f"{where}.trusted_keys", "must name at least one public key file")
        _require(60 <= self.max_age_s <= 365 * 24 * 3600, f"{where}.max_age_s", "must be 60..31536000 seconds")
        for i, name in enumerate(self.expected):
            _check_id(name, f"{where}.expected[{i}]")


@dataclass(frozen=True)
class MqttConfig:
    url: str
    topic_prefix: str = "entryscan"
    client_id: str = ""
    username: str = ""
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    allow_insecure: bool = False
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    max_inflight: int = 20
    state_interval_s: float = 60.0
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    # confirmed: a row leaves the journal when our collector confirms it committed the event; broker: on a PUBACK
    # (for sites whose consumer is not our collector; their broker then needs persistence and queue room).
    delivery: Literal["confirmed", "broker"] = "confirmed"
    confirm_timeout_s: float = 60.0

    def check(self, where: str) -> None:
        try:
            parts = urllib.parse.urlsplit(self.url)
        except ValueError as exc:  # "Invalid IPv6 URL", characters that change under NFKC
            raise ConfigError(f"{where}.url", f"is not a URL: {exc}") from None
        _require(parts.scheme in ("mqtt", "mqtts"), f"{where}.url", "must start with mqtt:// or mqtts://")
        _require(bool(parts.hostname), f"{where}.url", "names no host")
        _require(parts.password is None, f"{where}.url", "must not carry a password; use password_file")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ConfigError(f"{where}.url", "has an invalid port") from None
        _require(
            self.tls or self.allow_insecure or _is_loopback(parts.hostname or ""),
            f"{where}.url",
            "plain mqtt:// to a non-loopback broker; use mqtts:// or set allow_insecure = true",
        )
        _require((self.cert_file is None) == (self.key_file is None), where, "cert_file and key_file go together")
        for name in ("topic_prefix", "discovery_prefix"):
            _require(len(getattr(self, name)) <= 128
                     and bool(re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", getattr(self, name))),
                     f"{where}.{name}", "must be topic levels of [A-Za-z0-9_-], 128 characters at most (no wildcards)")
        _require(len(self.client_id) <= 128, f"{where}.client_id", "must be 128 characters at most")
        _require(len(self.username) <= 256, f"{where}.username", "must be 256 characters at most")
        _require(5 <= self.keepalive_s <= 3600, f"{where}.keepalive_s", "must be 5..3600")
        _require(0 <= self.session_expiry_s <= 0xFFFFFFFF, f"{where}.session_expiry_s", "must be 0..4294967295")
        _require(1 <= self.max_inflight <= 1000, f"{where}.max_inflight", "must be 1..1000")
        _require(5 <= self.state_interval_s <= 86400, f"{where}.state_interval_s", "must be 5..86400 seconds")
        _require(1 <= self.confirm_timeout_s <= 86400, f"{where}.confirm_timeout_s", "must be 1..86400 seconds")

    @property
    def tls(self) -> bool:
        return urllib.parse.urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port or (8883 if self.tls else 1883)

    @property
    def url_user(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).username or "")


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class JournalConfig:
    path: Path = Path("/var/lib/entryscan/journal.db")
    max_rows: int = 100_000
    # When a decision cannot be written (disk full, I/O error): "decide" keeps the door working and
    # alerts (availability first); "deny" keeps it shut until the journal works (audit first).
    on_storage_fault: Literal["decide", "deny"] = "decide"

    def check(self, where: str) -> None:
        _require(100 <= self.max_rows <= 10_000_000, f"{where}.max_rows", "must be 100..10000000")


@dataclass(frozen=True)
class PrivacyConfig:
    subject_key_file: Path | None = None
    share: tuple[str, ...] = ()
    retention_days: int = 30

    def check(self, where: str) -> None:
        _require(1 <= self.retention_days <= 3650, f"{where}.retention_days", "must be 1..3650")
        allowed = {"name", "birth_date", "id_number", "raw_payload"}
        for i, name in enumerate(self.share):
            _require(name in allowed, f"{where}.share[{i}]", f"must be one of {sorted(allowed)} (got {brief(name)})")


@dataclass(frozen=True)
class Config:
    device: DeviceConfig
    mqtt: MqttConfig
    camera: CameraConfig = field(default_factory=CameraConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    relay: RelayConfig = field(default_factory=RelayConfig)
    tamper: TamperConfig = field(default_factory=TamperConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    credentials: CredentialsConfig = field(default_factory=CredentialsConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    lists: ListsConfig | None = None

    def check(self, where: str) -> None:
        if self.policy.mode is PolicyMode.ALLOWLIST:
            _require(self.credentials.badge is not None, "credentials.badge",
                     "is required when policy.mode = 'allowlist'")
        pins = [p for p in (self.feedback.green_pin, self.feedback.red_pin, self.feedback.buzzer_pin,
                            self.relay.pin, self.tamper.pin) if p is not None]
        _require(len(pins) == len(set(pins)), "relay.pin" if self.relay.pin in pins[:3] else "tamper.pin",
                 "uses a GPIO pin that another output or input already uses")

    def describe(self) -> str:
        """One log line about what this device is set up to do. Holds no secret: the config holds
        only paths to secrets, and a URL with a password is refused at load."""
        cam = self.camera
        size = f"{cam.size[0]}x{cam.size[1]}@{cam.fps:g}fps"
        return (f"{self.device.site}/{self.device.id} (door {self.device.door}); camera {cam.source} {size}; "
                f"decoder {self.decoder.backend}; broker {self.mqtt.host}:{self.mqtt.port} "
                f"({'TLS' if self.mqtt.tls else 'plain'}); policy {self.policy.mode.value}; "
                f"journal {self.journal.path}")

    @property
    def subject_key_path(self) -> Path:
        return self.privacy.subject_key_file or self.journal.path.parent / "subject.key"


def default_config_path(environ: dict[str, str]) -> Path:
    """``$ENTRYSCAN_CONFIG`` if set, else /etc/entryscan/config.toml (the CLI passes the environment in)."""
    return Path(environ["ENTRYSCAN_CONFIG"]) if environ.get("ENTRYSCAN_CONFIG") else DEFAULT_CONFIG_PATH


def parse_config(text: str, base: Path) -> Config:
    """Validate TOML ``text``; relative paths resolve against ``base``."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("toml", str(exc)) from None
    except ValueError:  # tomllib passes int()'s own limit through
        raise ConfigError("toml", "an integer has more than 4300 digits") from None
    except RecursionError:
        raise ConfigError("toml", "tables or arrays are nested too deeply") from None
    try:
        cfg = build(Config, table, "", base)
    except RecursionError:
        raise ConfigError("toml", "a value is nested too deeply") from None
    return _resolve_camera_dir(cfg, base)


def _resolve_camera_dir(cfg: Config, base: Path) -> Config:
    """``dir:PATH`` is relative to the config file's folder, like every other path."""
    folder = cfg.camera.replay_dir
    if folder is None:
        return cfg
    resolved = resolve_path(str(folder), "camera.source", base)
    return dataclasses.replace(cfg, camera=dataclasses.replace(cfg.camera, source=f"dir:{resolved}"))


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path`` (the only config file read)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from a Windows editor is not an error
    except FileNotFoundError:
        raise ConfigError(str(path), "config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from None
    return parse_config(text, path.resolve().parent)
