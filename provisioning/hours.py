"""Opening hours as a district office writes them, in Vietnamese or English: the one parser.

``venue add`` checks the text with it before the venue is recorded, and the collector reads the
manifest with it, so what is accepted is exactly what is understood. Standard library only: the
collector imports this module without the provisioning tools' third-party packages.

Grammar (case and diacritics as typed; NFC and NFD alike):

* rules are separated by ``;`` or a line break: ``T2-T6 07:30-11:30, 13:30-17:00; T7 08:00-12:00``;
* a rule is days, an optional ``:``, then one or more spans (``,`` or spaces between them), or days and
  a closed word (``nghỉ``, ``đóng cửa``, ``closed``): a closed day stays closed whatever other rules say;
* days: ``T2``..``T7``, ``CN``, ``Thứ 2``..``Thứ 7``, ``Thứ Hai``..``Thứ Bảy``, ``Chủ nhật``, ``Mon``..``Sun``,
  ``Monday``..``Sunday``, lists (``T2, T4``) and ranges (``T2-T6``, ``Thứ 2 đến Thứ 6``, ``Mon to Fri``;
  a range may wrap: ``Sun-Mon``), or every day (``hàng ngày``, ``hằng ngày``, ``daily``);
* a span: ``07:30-17:00``, ``7h30-17h``, ``7:30 – 17:00`` (en or em dash, ``đến``, ``to``); ``24:00`` ends
  a day; a span that crosses midnight is refused (write it as two rules).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from entryscan.device.errors import ConfigError

MAX_TEXT = 200
WHAT = "opening_hours"
EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
VI_DAYS = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")
_NAMES: dict[str, int] = {}
for _i, _names in enumerate((
        ("mon", "monday", "t2", "thứ 2", "thứ hai", "2"), ("tue", "tuesday", "t3", "thứ 3", "thứ ba", "3"),
        ("wed", "wednesday", "t4", "thứ 4", "thứ tư", "4"), ("thu", "thursday", "t5", "thứ 5", "thứ năm", "5"),
        ("fri", "friday", "t6", "thứ 6", "thứ sáu", "6"), ("sat", "saturday", "t7", "thứ 7", "thứ bảy", "7"),
        ("sun", "sunday", "cn", "chủ nhật"))):
    _NAMES.update(dict.fromkeys(_names, _i))
_EVERY_DAY = ("hàng ngày", "hằng ngày", "mỗi ngày", "daily", "every day")
_CLOSED = ("đóng cửa", "nghỉ", "closed", "off")
_TIME = r"(\d{1,2})(?::(\d{2})|h(\d{2})?)"
_SPAN = re.compile(_TIME + r"\s*-\s*" + _TIME)
_BETWEEN = re.compile(r"[\s,/]*(?:(?:và|and)[\s,/]+)?")


class HoursError(ConfigError):
    """Hours that cannot be read: ``kind`` (``HOURS_ERRORS``) and the offending ``token`` (as the parser
    read it: NFC, lower case), so a page can word it in
    its own language; the message (what ``venue add`` prints and the logs keep) stays the English sentence."""

    def __init__(self, kind: str, token: str, problem: str) -> None:
        super().__init__(WHAT, problem)
        self.kind = kind
        self.token = token[:80]


# kind -> what was wrong (the pages word each in the catalogs: collector/web/templates/evidence.html).
HOURS_ERRORS = ("too_long", "no_span", "bad_span", "bad_time", "ends_before_start", "no_day", "bad_day")


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday) the open spans as minutes since local midnight, sorted."""

    spans: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7

    def open_since(self, local: dt.datetime) -> dt.datetime | None:
        """When the current opening span began, or None when closed at ``local``."""
        minute = local.hour * 60 + local.minute
        for start, end in self.spans[local.weekday()]:
            if start <= minute < end:
                return local.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)
        return None

    @property
    def ever_open(self) -> bool:
        return any(self.spans)

    def text(self, days: tuple[str, ...] = EN_DAYS) -> str:
        """A canonical form (``Mon-Fri 07:30-17:00``, or with ``VI_DAYS`` ``T2-T6 07:30-17:00``)."""
        rules: list[str] = []
        day = 0
        while day < 7:
            last = day
            while last + 1 < 7 and self.spans[last + 1] == self.spans[day]:
                last += 1
            if self.spans[day]:
                head = days[day] if last == day else f"{days[day]}-{days[last]}"
                rules.append(head + " " + ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in self.spans[day]))
            day = last + 1
        return "; ".join(rules)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_opening_hours(text: str) -> OpeningHours:
    """The hours ``text`` describes; raises HoursError (a ConfigError) naming what it could not read."""
    if len(text) > MAX_TEXT:
        raise HoursError("too_long", str(MAX_TEXT), f"longer than {MAX_TEXT} characters")
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    closed: set[int] = set()
    for rule in filter(None, (r.strip() for r in re.split(r"[;\n]", _normal(text)))):
        first = _SPAN.search(rule)
        head = (rule[:first.start()] if first else rule).strip().rstrip(":").strip()
        if first is None:
            word = next((w for w in _CLOSED if head.endswith(w)), None)
            if word is None:
                raise HoursError("no_span", rule, f"no time span in {rule!r} (want e.g. 'T2-T6 07:30-17:00' or 'CN nghỉ')")
            closed.update(_days(head[: -len(word)].strip().rstrip(":").strip(), rule))
            continue
        spans = _spans(rule[first.start():], rule)
        for day in _days(head, rule):
            days[day].extend(spans)
    for day in closed:
        days[day] = []
    return OpeningHours(tuple(tuple(sorted(set(d))) for d in days))


def _normal(text: str) -> str:
    """NFC, lower case, one space, every dash and range word as ``-``."""
    out = unicodedata.normalize("NFC", text).lower().replace("\u2013", "-").replace("\u2014", "-")
    out = re.sub(r"[ \t\u00a0]+", " ", out)
    return re.sub(r"\s+(?:đến|to)\s+", "-", out)


def _spans(rest: str, rule: str) -> list[tuple[int, int]]:
    spans, at = [], 0
    while at < len(rest):
        gap = _BETWEEN.match(rest, at)
        at = gap.end() if gap else at
        if at >= len(rest):
            break
        m = _SPAN.match(rest, at)
        if m is None:
            raise HoursError("bad_span", rest[at:], f"cannot read {rest[at:]!r} in {rule!r} (want HH:MM-HH:MM)")
        spans.append(_span(m, rule))
        at = m.end()
    return spans


def _span(m: re.Match[str], rule: str) -> tuple[int, int]:
    h1, m1a, m1b, h2, m2a, m2b = m.groups()
    start, end = int(h1) * 60 + int(m1a or m1b or 0), int(h2) * 60 + int(m2a or m2b or 0)
    if int(m1a or m1b or 0) > 59 or int(m2a or m2b or 0) > 59 or end > 24 * 60:
        raise HoursError("bad_time", m[0], f"bad time in {m[0]!r} ({rule!r})")
    if end <= start:
        raise HoursError("ends_before_start", m[0], f"{m[0]!r} ends before it starts ({rule!r}); split a night at midnight")
    return start, end


def _days(head: str, rule: str) -> list[int]:
    if not head:
        raise HoursError("no_day", rule, f"no day in {rule!r} (want e.g. T2-T6, Thứ 2, CN, Mon-Fri, hàng ngày)")
    if head in _EVERY_DAY:
        return list(range(7))
    out: list[int] = []
    for item in filter(None, (i.strip() for i in re.split(r"[,/]", head))):
        first, _, last = (p.strip() for p in item.partition("-"))
        if first not in _NAMES or (last and last not in _NAMES):
            raise HoursError("bad_day", item, f"bad day {item!r} in {rule!r} (want T2..T7, CN, Thứ 2..Chủ nhật or Mon..Sun)")
        a, b = _NAMES[first], _NAMES[last or first]
        out += [(a + i) % 7 for i in range((b - a) % 7 + 1)]
    return out
