"""Opening hours as the office writes them (Vietnamese or English): one parser for venue add and the collector."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from entryscan.device.errors import ConfigError
from entryscan.provisioning.hours import VI_DAYS, parse_opening_hours

WEEKDAYS = ((450, 1020),)  # 07:30-17:00
MON_FRI = (WEEKDAYS,) * 5 + ((), ())


@pytest.mark.parametrize("text", [
    "T2-T6 07:30-17:00", "Mon-Fri 07:30-17:00", "t2 - t6: 7h30-17h", "Thứ 2-Thứ 6 07:30-17:00",
    "Thứ 2 đến Thứ 6 07:30 – 17:00", "Thứ Hai - Thứ Sáu 7:30-17:00", "Monday to Friday 07:30-17:00",
    "T2, T3, T4, T5, T6 07h30-17h00", "T2–T6 07:30–17:00", unicodedata.normalize("NFD", "Thứ 2-Thứ 6 07:30-17:00"),
    "hàng ngày 07:30-17:00; T7, CN nghỉ", "Daily 07:30-17:00; Sat-Sun closed",
])
def test_weekday_hours_in_every_spelling(text: str) -> None:
    assert parse_opening_hours(text).spans == MON_FRI


def test_several_spans_a_day_and_closed_days() -> None:
    hours = parse_opening_hours("T2-T6 7h30-11h30, 13h30-17h; T7 08:00-12:00; CN: đóng cửa")
    assert hours.spans[0] == ((450, 690), (810, 1020))
    assert hours.spans[5] == ((480, 720),) and hours.spans[6] == ()
    assert hours.text() == "Mon-Fri 07:30-11:30, 13:30-17:00; Sat 08:00-12:00"
    assert hours.text(VI_DAYS) == "T2-T6 07:30-11:30, 13:30-17:00; T7 08:00-12:00"
    wed = dt.datetime(2026, 11, 25, 12, 0)  # the lunch break
    assert hours.open_since(wed) is None and hours.open_since(wed.replace(hour=14)) == wed.replace(hour=13, minute=30)
    assert parse_opening_hours("Chủ nhật 08:00-24:00").spans[6] == ((480, 1440),)
    assert parse_opening_hours("CN-T2 20:00-21:00").spans[0] == ((1200, 1260),)  # a range may wrap
    assert parse_opening_hours("").spans == ((),) * 7 and not parse_opening_hours("").ever_open


@pytest.mark.parametrize("bad", ["T2-T6", "T8 08:00-12:00", "07:30-17:00", "T2 17:00-08:00", "T2 08:00-25:00",
                                 "T2 08:00-12:00 xyz", "Someday 08:00-12:00", "Mon-Fri 7-17", "T2 08:61-09:00",
                                 "x" * 201, "T2 22:00-02:00"])
def test_what_cannot_be_read_is_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_opening_hours(bad)
    assert "opening_hours" in str(err.value)
