"""Home Assistant MQTT device-based discovery for one scanner.

One retained config message at ``<discovery_prefix>/device/<id>/config``
describes the device and its components: an ``event`` entity fed by the entry
topic, a journal-backlog ``sensor`` and a camera ``binary_sensor`` (problem),
both read from the retained state document, and an ``identify`` button. Availability follows the status
topic, whose LWT says ``offline``.
"""

from __future__ import annotations

from entryscan.device.delivery.topics import Topics

ORIGIN_URL = "https://github.com/entryscan/entryscan"


def discovery_messages(topics: Topics, *, site: str, door: str, firmware: str) -> list[tuple[str, dict[str, object]]]:
    """Every retained discovery message: the device with its entities, and the tag scanner.

    The tag scanner has its own discovery topic because Home Assistant sets it up through
    per-entity discovery (the provisioning ACL allows the device that topic). It listens on
    the device's ``tag`` topic, where only live accepts appear (never denies or journal
    replays: Home Assistant keeps every new tag id forever), with the subject pseudonym as
    the tag id (never the raw code).
    """
    device = discovery_config(topics, site=site, door=door, firmware=firmware)
    tag: dict[str, object] = {
        "topic": topics.tag,
        "device": {"identifiers": [_uid(topics, site)]},
    }
    return [(topics.discovery, device), (topics.tag_discovery, tag)]


def _uid(topics: Topics, site: str) -> str:
    return f"entryscan_{site}_{topics.device}".replace("-", "_")


def discovery_config(topics: Topics, *, site: str, door: str, firmware: str) -> dict[str, object]:
    uid = _uid(topics, site)
    return {
        "dev": {
            "ids": [uid],
            "name": f"Door scanner {site}/{door}",
            "mf": "entryscan",
            "mdl": "QR door scanner",
            "sw": firmware,
            "sa": site,
        },
        "o": {"name": "entryscan", "sw": firmware, "url": ORIGIN_URL},
        "cmps": _components(topics, uid),
        "availability": [
            {"topic": topics.status, "payload_available": "online", "payload_not_available": "offline"}
        ],
        "qos": 1,
    }


def _components(topics: Topics, uid: str) -> dict[str, dict[str, object]]:
    return {
        "entry": {
            "p": "event",
            "name": "Entry",
            "unique_id": f"{uid}_entry",
            "state_topic": topics.entry,
            "event_types": ["accept", "deny"],
            # The event entity wants {"event_type": ...}; keep only non-personal fields.
            "value_template": (
                "{{ {'event_type': value_json.decision, 'reason': value_json.reason,"
                " 'credential_type': value_json.credential_type, 'seq': value_json.seq} | to_json }}"
            ),
            "icon": "mdi:door",
        },
        "backlog": {
            "p": "sensor",
            "name": "Journal backlog",
            "unique_id": f"{uid}_backlog",
            "state_topic": topics.state,
            "value_template": "{{ value_json.journal_backlog }}",
            "state_class": "measurement",
            "entity_category": "diagnostic",
            "icon": "mdi:tray-full",
        },
        "identify": {
            "p": "button",
            "name": "Identify",
            "unique_id": f"{uid}_identify",
            "device_class": "identify",
            "command_topic": topics.cmd("identify"),
            "payload_press": '{"request_id": "home-assistant"}',
            "entity_category": "diagnostic",
            "icon": "mdi:lightbulb-on",
        },
        "camera": {
            "p": "binary_sensor",
            "name": "Camera problem",
            "unique_id": f"{uid}_camera",
            "device_class": "problem",
            "state_topic": topics.state,
            "value_template": "{{ 'OFF' if value_json.camera == 'ok' else 'ON' }}",
            "entity_category": "diagnostic",
        },
    }
