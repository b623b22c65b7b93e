"""Probing after a refused link (device/delivery/probe.py): which link ends convict a row, and which never do."""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho

from entryscan.device.delivery.journal import OutboxRow
from entryscan.device.delivery.link import _Inflight, _Link
from entryscan.device.delivery.probe import LinkProbe, link_refused


def link(*row_ids: int, refused: bool = True, window: int = 20) -> _Link:
    made = _Link(client=Any, started=0.0, max_inflight=window)  # type: ignore[arg-type]
    made.inflight = {n: _Inflight(OutboxRow(r, "entry", f"e{r}", b"{}"), 0.0) for n, r in enumerate(row_ids)}
    made.refused = refused
    return made


def test_only_protocol_errors_and_refusing_disconnects_count() -> None:
    assert link_refused(paho.MQTT_ERR_PROTOCOL)
    assert not link_refused(paho.MQTT_ERR_CONN_LOST) and not link_refused(paho.MQTT_ERR_KEEPALIVE)
    assert link_refused(from_server=True, reason=0x95) and link_refused(from_server=True, reason=0x87)
    assert not link_refused(from_server=True, reason=0x8B)  # server shutting down: an outage
    assert not link_refused(from_server=False, reason=0x95)  # paho's own report of a lost connection


def test_a_row_alone_on_two_refused_links_in_a_row_is_the_culprit() -> None:
    probe = LinkProbe()
    assert probe.ended(link(1, 2, 3)) is None and probe.active  # refused with a full window: probe next time
    probing = link(window=20)
    probe.begin(probing)
    assert probing.max_inflight == 1
    assert probe.ended(link(1)) is None  # first strike
    culprit = probe.ended(link(1))
    assert culprit is not None and culprit.row_id == 1


def test_strikes_are_per_row_and_reset_by_an_answer() -> None:
    probe = LinkProbe()
    probe.ended(link(1, 2))
    assert probe.ended(link(1)) is None
    assert probe.ended(link(2)) is None  # another row: its first strike, row 1 cleared
    answered = link(window=20)
    probe.begin(answered)
    probe.answered(answered)  # a PUBACK came: the link carries rows
    assert answered.max_inflight == 20 and not probe.active
    assert probe.ended(link(2)) is None  # starts over: only probing again, no strike


def test_an_outage_never_starts_a_probe_or_convicts() -> None:
    probe = LinkProbe()
    for _ in range(5):
        assert probe.ended(link(1, refused=False)) is None
    assert not probe.active
