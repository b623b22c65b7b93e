"""MQTT topic names (the contract in ARCHITECTURE.md), built in one place.

Ids are validated by the config (``[a-z0-9][a-z0-9_-]{0,62}``) and the prefix
holds no wildcards, so no topic can vary with anything read from a QR code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str
    site: str
    device: str
    discovery_prefix: str = "homeassistant"

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.site}/{self.device}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def entry(self) -> str:
        return f"{self.base}/entry"

    @property
    def alert(self) -> str:
        return f"{self.base}/alert"

    @property
    def confirm(self) -> str:
        """The collector's delivery confirmations for this device (retained)."""
        return f"{self.base}/confirm"

    @property
    def tag(self) -> str:
        """Live accepted scans for Home Assistant's tag scanner (never journal replays)."""
        return f"{self.base}/tag"

    @property
    def event(self) -> str:
        """Live decisions for Home Assistant's event entity: each decision once, as it is made (never a replay)."""
        return f"{self.base}/event"

    def cmd(self, verb: str) -> str:
        return f"{self.base}/cmd/{verb}"

    def cmd_result(self, verb: str) -> str:
        return f"{self.base}/cmd/{verb}/result"

    @property
    def cmd_filter(self) -> str:
        return f"{self.base}/cmd/+"

    @property
    def site_entries(self) -> str:
        """Every door's entry events at this site (doors with a direction learn peers' passages from them)."""
        return f"{self.prefix}/{self.site}/+/entry"

    def entry_sender(self, topic: str) -> str | None:
        """The device level of a ``<prefix>/<site>/<device>/entry`` topic, else None."""
        head, tail = f"{self.prefix}/{self.site}/", "/entry"
        if not (topic.startswith(head) and topic.endswith(tail)) or len(topic) <= len(head) + len(tail):
            return None
        sender = topic[len(head):-len(tail)]
        return None if "/" in sender else sender

    def site_list(self, name: str) -> str:
        return f"{self.prefix}/{self.site}/lists/{name}"

    @property
    def discovery(self) -> str:
        """Home Assistant device-based discovery config topic; node id ``entryscan_<site>``, object id the device
        (the device id alone collided between sites sharing a broker)."""
        return f"{self.discovery_prefix}/device/entryscan_{self.site}/{self.device}/config"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/will topic (``online`` after an HA restart)."""
        return f"{self.discovery_prefix}/status"

    def published(self, verbs: tuple[str, ...] = ("identify", "state")) -> list[str]:
        """Every topic this door publishes on (the broker ACL must grant each; tests/provisioning checks it)."""
        return [self.status, self.state, self.entry, self.alert, self.tag, self.event, self.discovery,
                *self.legacy_discovery(), *(self.cmd_result(v) for v in verbs), f"{self.base}/selftest"]

    def legacy_discovery(self) -> list[str]:
        """Discovery topics of earlier releases (device id only), cleared with an empty retained message."""
        return [f"{self.discovery_prefix}/device/{self.device}/config",
                f"{self.discovery_prefix}/tag/{self.device}/scan/config"]

    def for_kind(self, kind: str) -> str:
        """The topic an outbox row of ``kind`` ('entry' | 'alert') goes to."""
        return self.entry if kind == "entry" else self.alert


def collector_filters(prefix: str) -> list[str]:
    """Subscriptions of a collector for every device under ``prefix``."""
    return [f"{prefix}/+/+/{leaf}" for leaf in ("entry", "alert", "status")]


def confirm_topic(prefix: str, site: str, device: str) -> str:
    """Where a collector publishes its confirmations for one device."""
    return Topics(prefix, site, device).confirm
