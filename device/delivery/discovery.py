"""Home Assistant MQTT device-based discovery for one scanner.

One retained config message at ``<discovery_prefix>/device/entryscan_<site>/<device>/config`` describes the
device and every component: an ``event`` entity fed by the door's live ``event`` topic, a journal-backlog
``sensor`` and a camera ``binary_sensor`` (problem), both read from the retained state document, an
``identify`` button and the ``tag`` scanner. Availability follows the status topic, whose LWT says ``offline``.

The node id carries the site, so two sites that both have a ``door-1`` on one broker (a district's shared broker,
one Home Assistant watching two sites) no longer overwrite each other's retained discovery. The topics used before
(``<prefix>/device/<device>/config`` and the tag scanner's own ``<prefix>/tag/<device>/scan/config``) are cleared
by ``legacy_topics`` once per start, so a door that moved leaves nothing behind in Home Assistant.

What Home Assistant's MQTT integration does with these fields (checked against its source, 2026.11):
- a root-level ``qos`` is not handed to the components, so each component states its own;
- one message holds every component, the tag scanner included, so every entity sees the full device block (the
  device was once created from the tag scanner's bare identifiers first in some installs, and its entity ids
  then differed);
- no suggested area: the site id is no place in a building, and Home Assistant would make an area named after it.
"""

from __future__ import annotations

from entryscan.device.delivery.topics import Topics

QOS = 1


def node_id(topics: Topics) -> str:
    """The discovery topic's node id: ``entryscan_<site>``; the device id is the object id below it."""
    return f"entryscan_{topics.site}"


def discovery_messages(topics: Topics, *, site: str, door: str, firmware: str) -> list[tuple[str, dict[str, object]]]:
    """Every retained discovery message (one: the device with all its components)."""
    return [(topics.discovery, discovery_config(topics, site=site, door=door, firmware=firmware))]


def legacy_topics(topics: Topics) -> list[str]:
    """Discovery topics of earlier releases (device id only), cleared with an empty retained message."""
    return topics.legacy_discovery()


def _uid(topics: Topics, site: str) -> str:
    # Kept as it was: Home Assistant keys its entity registry on these, so a change would orphan every entity.
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
        },
        # No url: the project publishes none (pyproject.toml names no homepage).
        "o": {"name": "entryscan", "sw": firmware},
        "cmps": _components(topics, uid),
        "availability": [
            {"topic": topics.status, "payload_available": "online", "payload_not_available": "offline"}
        ],
    }


def _components(topics: Topics, uid: str) -> dict[str, dict[str, object]]:
    return {
        "entry": {
            "p": "event",
            "name": "Entry",
            "unique_id": f"{uid}_entry",
            # The live topic, not the journal's entry topic: replays and unconfirmed re-sends go to the entry
            # topic again and would fire the event (and every automation on it) once per send.
            "state_topic": topics.event,
            "event_types": ["accept", "deny"],
            "qos": QOS,
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
            "qos": QOS,
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
            "qos": QOS,
            "icon": "mdi:lightbulb-on",
        },
        "camera": {
            "p": "binary_sensor",
            "name": "Camera problem",
            "unique_id": f"{uid}_camera",
            "device_class": "problem",
            "state_topic": topics.state,
            # A problem only once the scan loop has seen the camera fail: "starting" (the first state after
            # every start, before the first frame) is no fault.
            "value_template": "{{ 'ON' if value_json.camera == 'fault' else 'OFF' }}",
            "entity_category": "diagnostic",
            "qos": QOS,
        },
        "scan": {
            # Only live accepts reach the tag topic (never denies or journal replays: Home Assistant keeps every
            # new tag id forever), with the subject pseudonym as the tag id (never the raw code).
            "p": "tag",
            "topic": topics.tag,
            "qos": QOS,
        },
    }
