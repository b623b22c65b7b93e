"""Building one paho client from MqttConfig: identity, TLS, LWT, backoff.

Everything that can be checked before the first connection (password file
mode, certificate files) is checked here, so a misconfigured device fails at
start with one clear line instead of retrying forever.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from entryscan.device.config.settings import MqttConfig
from entryscan.device.errors import ConfigError
from entryscan.device.keys import check_private, read_secret_text

log = logging.getLogger(__name__)

# Control messages (status, state, discovery) may be in flight beside the
# outbox rows; paho queues anything beyond its own limit, so leave headroom.
CONTROL_HEADROOM = 8
# The window assumed before the first CONNACK says the broker's Receive Maximum (HiveMQ's default is 10,
# mosquitto's 20); a broker that allows fewer is reconnected to with a window it takes (link.sized_by).
FIRST_LINK_WINDOW = 10
CONNECT_TIMEOUT_S = 10.0


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 120.0,
    jitter: float = 0.5,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number ``attempt`` (0-based): base * 2**attempt capped, then ±jitter.

    The jitter spreads a fleet's reconnects after a broker restart
    (EN 303 645 5.9-3); it is applied after the cap so devices stuck at the cap
    do not retry in lockstep.
    """
    nominal = min(cap, base * (2.0 ** min(max(attempt, 0), 62)))
    return nominal * (1.0 + jitter * (2.0 * rand() - 1.0))


@dataclass(frozen=True)
class Identity:
    client_id: str
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never let the password reach a log line
        return f"Identity(client_id={self.client_id!r}, username={self.username!r})"


def identity(cfg: MqttConfig, *, site: str, device: str) -> Identity:
    username = cfg.username or cfg.url_user or None
    password = read_secret_text(cfg.password_file, "mqtt.password_file") if cfg.password_file is not None else None
    if password is not None and username is None:
        raise ConfigError("mqtt.password_file", "is set but no username (mqtt.username or the URL's user)")
    return Identity(cfg.client_id or f"entryscan-{site}-{device}", username, password)


def tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    """TLS >= 1.2 with certificate and hostname verification (never tls_insecure).

    The client's private key is a secret like the password file: refused if group or others may read it.
    """
    if cfg.key_file is not None:
        check_private(cfg.key_file, "mqtt.key_file")
    try:
        ctx = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cfg.cert_file is not None and cfg.key_file is not None:
            ctx.load_cert_chain(str(cfg.cert_file), str(cfg.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("mqtt", f"TLS setup failed (ca_file/cert_file/key_file): {exc}") from None
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def new_client(
    cfg: MqttConfig, ident: Identity, tls: ssl.SSLContext | None, will_topic: str, max_inflight: int,
    receive_max: int | None = None,
) -> paho.Client:
    """A fresh MQTT v5 client with the LWT set; callbacks are attached by the caller.

    ``receive_max``: the broker's Receive Maximum from an earlier CONNACK (None: not known yet). paho does not
    apply it; its window is the hard cap on unacknowledged PUBLISHes (more wait in paho's queue), so it is sized
    here: rows plus status, state and alerts never exceed what the broker accepts.
    """
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=ident.client_id,
        protocol=paho.MQTTv5,
        reconnect_on_failure=False,
    )
    if ident.username is not None:
        client.username_pw_set(ident.username, ident.password)
    if tls is not None:
        client.tls_set_context(tls)
    client.will_set(will_topic, "offline", qos=1, retain=True)
    limit = FIRST_LINK_WINDOW if receive_max is None else receive_max
    client.max_inflight_messages_set(max(1, min(max_inflight + CONTROL_HEADROOM, limit)))
    client.connect_timeout = min(CONNECT_TIMEOUT_S, float(cfg.keepalive_s))
    client.enable_logger(logging.getLogger("entryscan.device.delivery.publisher.paho"))
    return client


MAX_PACKET_BYTES = 4 * 1024 * 1024


def wire_keepalive(keepalive_s: int) -> int:
    """The keepalive asked of the broker, so that a dead link is noticed within 1.5 x ``keepalive_s``.

    paho sends PINGREQ after one interval without traffic and gives up one interval later, up to twice the
    negotiated value after the last byte heard; three quarters of the configured value keeps that at 1.5 x.
    """
    return max(1, keepalive_s * 3 // 4)


def connect_properties(cfg: MqttConfig) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = cfg.session_expiry_s
    # The broker must not send us anything larger (it drops it instead): a 255 MiB command or retained list
    # would otherwise be read into memory in full. Lists are at most 3 MiB (access.listdoc.MAX_DOC_BYTES).
    props.MaximumPacketSize = MAX_PACKET_BYTES
    return props
