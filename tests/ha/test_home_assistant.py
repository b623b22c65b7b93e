"""A real Home Assistant core against a simulated door: what a site sees, asserted through Home Assistant's API.

Entities are matched by unique id (what Home Assistant keys its registry on), never by entity id. The tests share
one Home Assistant and one door (tests/ha/conftest.py) and run in this order; the last one retires the door.

Before (issue 18, run by hand against Home Assistant 2026.11.0): entity ids differed between fresh installs (the
tag scanner's separate discovery carried only the device identifiers, so the device was sometimes made without
its suggested area); the event entity fired again for every unconfirmed re-send, without event_id; "Camera
problem" was ON for up to 60 s after every start; ``device remove`` left the door in Home Assistant forever.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from entryscan.provisioning.__main__ import main as provision
from tests.ha.conftest import COMPONENTS, DEVICE_UID, Rig
from tests.support import wait_for
from tests.support.homeassistant import HomeAssistant
from tests.support.mosquitto import Listener

pytestmark = pytest.mark.ha
# Every sample frame: five decisions (staff 1, 2 and 3 accepted; two unknown codes denied).
SAMPLE = ["000-empty.png", "002-staff-0001.png", "003-staff-0001-still.png", "004-staff-0001-still.png",
          "005-empty.png", "006-visitor-unknown.png", "007-empty.png", "008-staff-0002.png", "009-empty.png",
          "010-contractor-unknown.png", "011-empty.png", "012-staff-0003.png", "013-empty.png"]


def _entity_ids(ha: HomeAssistant) -> dict[str, str]:
    return {uid: e["entity_id"] for uid, e in ha.entities().items() if uid in COMPONENTS}


def _states(ha: HomeAssistant) -> dict[str, str]:
    out = {}
    for uid, entity_id in _entity_ids(ha).items():
        state = ha.state(entity_id)
        out[uid] = state["state"] if state else "missing"
    return out


def _available(ha: HomeAssistant) -> bool:
    states = _states(ha)
    return len(states) == len(COMPONENTS) and "unavailable" not in states.values()


def _unavailable(ha: HomeAssistant) -> bool:
    return set(_states(ha).values()) == {"unavailable"}


def _changes(events: list[dict[str, Any]], entity_id: str) -> list[dict[str, Any]]:
    return [e["data"]["new_state"] for e in list(events)
            if e["data"].get("entity_id") == entity_id and e["data"].get("new_state")]


def _fired(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events an event entity fired: each sets a new state (its time); coming back after unavailable
    restores the last one, which is no new event."""
    seen: dict[str, dict[str, Any]] = {}
    for state in states:
        if state["state"] not in ("unavailable", "unknown"):
            seen.setdefault(state["state"], state["attributes"])
    return list(seen.values())


def test_one_device_with_event_sensor_button_binary_sensor(rig: Rig) -> None:
    ha = rig.ha
    assert wait_for(lambda: set(_entity_ids(ha)) == set(COMPONENTS), timeout=60), ha.entities()
    entities = ha.entities()
    device = ha.device(DEVICE_UID)
    assert device is not None, ha.devices()
    assert {entities[uid]["device_id"] for uid in COMPONENTS} == {device["id"]}
    assert {uid: entities[uid]["entity_id"].split(".")[0] for uid in COMPONENTS} == COMPONENTS
    assert device["name"] == "Door scanner hq/main" and device["manufacturer"] == "entryscan"
    assert device["area_id"] is None  # no suggested area: nothing named after the site id
    assert [d for d in ha.devices() if ["mqtt", DEVICE_UID] in d["identifiers"]] == [device]  # one device
    assert wait_for(lambda: _available(ha), timeout=30), rig.why()
    assert _states(ha)[f"{DEVICE_UID}_camera"] == "off"


def test_camera_problem_is_never_on_across_a_restart(rig: Rig) -> None:
    """Before: the first state after every start says camera "starting", which the binary sensor showed as a
    problem (ON) until the next state document, up to 60 s later."""
    assert rig.ha.ws is not None
    changes = rig.ha.ws.subscribe("state_changed")
    camera = _entity_ids(rig.ha)[f"{DEVICE_UID}_camera"]
    rig.restart_door(["000-empty.png", "001-empty.png"])
    assert wait_for(lambda: [s["state"] for s in _changes(changes, camera)][-1:] == ["off"], timeout=30)
    time.sleep(3)  # the state documents of the first seconds after the start
    seen = [s["state"] for s in _changes(changes, camera)]
    assert "on" not in seen and seen[-1] == "off", seen


def test_identify_button_reaches_the_door(rig: Rig, door_topics: Listener) -> None:
    button = _entity_ids(rig.ha)[f"{DEVICE_UID}_identify"]
    assert wait_for(lambda: _available(rig.ha), timeout=30), rig.why()
    rig.ha.request("POST", "/api/services/button/press", body={"entity_id": button})
    assert wait_for(lambda: door_topics.json_on("/cmd/identify/result"), timeout=20), rig.door.log_tail()
    assert door_topics.json_on("/cmd/identify/result")[0] == {"request_id": "home-assistant", "status": "ok"}


def test_availability_follows_a_clean_stop_and_the_will(rig: Rig) -> None:
    ha = rig.ha
    assert wait_for(lambda: _available(ha), timeout=30), rig.why()
    assert rig.door.stop() == 0
    assert wait_for(lambda: _unavailable(ha), timeout=15), rig.why()  # the clean stop says offline
    rig.start_door()
    assert wait_for(lambda: _available(ha), timeout=30), rig.why()
    rig.door.kill()  # a crash: the broker publishes the will after 1.5 keep-alives (5 s)
    assert wait_for(lambda: _unavailable(ha), timeout=30), rig.why()
    rig.start_door()
    assert wait_for(lambda: _available(ha), timeout=30), rig.why()


def test_tags_and_events_fire_once_per_live_decision(rig: Rig, door_topics: Listener) -> None:
    """Confirmed delivery with no collector: every entry is re-sent on the entry topic every few seconds, and a
    restart replays them; Home Assistant fires its event entity and tag scans once per decision made, each event
    carrying the entry's event_id. Before: the event entity read the entry topic and fired once per send."""
    ha = rig.ha
    assert ha.ws is not None
    changes, tags = ha.ws.subscribe("state_changed"), ha.ws.subscribe("tag_scanned")
    entry = _entity_ids(ha)[f"{DEVICE_UID}_entry"]
    rig.restart_door(SAMPLE)
    assert wait_for(lambda: len(rig.door.journal_rows()) == 5, timeout=60), rig.door.log_tail()
    rows = rig.door.journal_rows()

    def sends() -> list[str]:
        return [e["event_id"] for e in door_topics.json_on("/entry")]

    # Each entry sent, re-sent after the confirmation timeout, and replayed after a restart.
    assert wait_for(lambda: all(sends().count(r["event_id"]) >= 2 for r in rows), timeout=40), sends()
    rig.restart_door(["000-empty.png"])
    assert wait_for(lambda: all(sends().count(r["event_id"]) >= 3 for r in rows), timeout=40), sends()
    time.sleep(2)  # anything Home Assistant would still make of those sends
    fired = _fired(_changes(changes, entry))
    assert [(a["event_id"], a["event_type"]) for a in fired] == [(r["event_id"], r["decision"]) for r in rows]
    device = ha.device(DEVICE_UID)
    assert device is not None
    scans = [(t["data"]["tag_id"], t["data"]["device_id"]) for t in list(tags)]
    accepted = [r["subject"] for r in rows if r["decision"] == "accept"]
    assert len(accepted) == 3 and scans == [(s, device["id"]) for s in accepted]


def test_entity_ids_are_the_same_on_a_second_fresh_install(rig: Rig) -> None:
    """Before: 2 of 3 fresh installs named them door_scanner_hq_main_..., the third hq_door_scanner_hq_main_...,
    depending on whether the tag scanner's discovery or the device's was handled first."""
    first = _entity_ids(rig.ha)
    second = rig.new_install()
    try:
        assert wait_for(lambda: set(_entity_ids(second)) == set(COMPONENTS), timeout=60), second.entities()
        assert _entity_ids(second) == first
        assert first[f"{DEVICE_UID}_entry"] == "event.door_scanner_hq_main_entry"
    finally:
        second.stop()


def test_device_remove_broker_removes_the_door_from_home_assistant(rig: Rig, door_topics: Listener) -> None:
    """``device remove --broker`` clears the retired door's retained discovery with the collector's certificate:
    Home Assistant drops the device and its entities, and a Home Assistant started later never sees it."""
    ha = rig.ha
    assert ha.device(DEVICE_UID) is not None
    assert rig.door.stop() == 0
    late = Listener(rig.broker.url, ["homeassistant/#"])
    try:
        assert wait_for(lambda: late.on("/entryscan_hq/door-1/config"), timeout=10)  # retained until now
    finally:
        late.close()
    assert provision(["device", "remove", "--site-dir", str(rig.site.dir), "--device", "door-1",
                      "--broker", f"mqtts://localhost:{rig.tls_port}", "--broker-dir", str(rig.site.broker_dir)]) == 0
    assert wait_for(lambda: ha.device(DEVICE_UID) is None, timeout=30), ha.device(DEVICE_UID)
    assert not set(_entity_ids(ha))
    after = Listener(rig.broker.url, ["homeassistant/#"])
    try:
        time.sleep(1)
        assert [t for t, p, _ in after.messages if p] == []  # nothing retained for a new Home Assistant
    finally:
        after.close()
