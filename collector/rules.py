"""Fleet health and compliance rules: each yields the alerts that should be open now.

``evaluate`` raises what a rule finds and clears what it no longer finds, so every alert clears
itself once its cause is gone. Rules read only the store and the site manifests, never the network.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from entryscan.collector.doorproblems import stale_lists_reported
from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.store.validate import iso

log = logging.getLogger("collector")

Finding = tuple[str, str, str]  # (site, target, detail)
RULES = ("device_offline", "venue_idle", "stale_list", "camera_faults", "clock_unsynced", "gap_unhealed",
         "venue_reports", "venue_unreadable", "report_storage")


@dataclass(frozen=True)
class RuleSettings:
    offline_s: float = 600
    idle_s: float = 1800
    gap_s: float = 3600
    stale_list_s: float = 6 * 86400  # a day before the doors' default max_age_s (7 days)
    camera_faults: int = 3
    camera_window_s: float = 3600


def _age(since: str | None, now: dt.datetime) -> float:
    if not since:
        return 0.0
    return (now - dt.datetime.fromisoformat(since)).total_seconds()


def device_offline(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
                   devices: list[dict[str, Any]]) -> Iterable[Finding]:
    for d in devices:
        if d["status"] != "online" and d["offline_since"] and _age(d["offline_since"], now) > s.offline_s:
            how = "stopped cleanly" if d["state"].get("stopped") is True else "connection lost (last will)"
            yield d["site"], d["device"], f"offline since {d['offline_since']} ({how})"


def venue_idle(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
               devices: list[dict[str, Any]]) -> Iterable[Finding]:
    last_entry = {(d["site"], d["device"]): d["last_entry_ts"] for d in devices}
    for site in sites.values():
        local = site.local(now)
        for venue in site.venues.values():
            opened = venue.hours.open_since(local)
            if opened is None or (local - opened).total_seconds() <= s.idle_s:
                continue
            stamps = [t for t in (last_entry.get((site.site, dev)) for dev in site.devices_of(venue.id)) if t]
            last = max(stamps, default=None)
            if last is None or _age(last, now) > s.idle_s:
                yield site.site, venue.id, f"no scans since {last or 'ever'} while open ({venue.hours_text})"


StaleWhy = list[dict[str, Any]]  # why a door's lists are stale: codes and parameters (``stale_text`` words them)


def stale_reasons(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
                  devices: list[dict[str, Any]]) -> Iterable[tuple[str, str, StaleWhy]]:
    """A door's list older than ``stale_list_s`` (from its issue time when the door reports it, else from
    when the door was first seen holding that version), a list the door itself reported stale and still
    holds, or a list behind another door of the site (while the door's state is recent)."""
    newest: dict[tuple[str, str], int] = {}
    for d in devices:
        for name, version in _lists(d).items():
            key = (d["site"], name)
            newest[key] = max(newest.get(key, version), version)
    old: dict[tuple[str, str], StaleWhy] = {}
    for v in store.held_versions():
        age = _age(v["issued_at"] or v["since"], now)
        if v["kind"] == "list" and age > s.stale_list_s:
            old.setdefault((v["site"], v["device"]), []).append(
                {"code": "list_age", "list": v["name"], "version": v["version"], "hours": round(age / 3600),
                 "days": int(age // 86400), "issued_at": v["issued_at"] or "",
                 "since": "" if v["issued_at"] else v["since"]})
    reported = stale_lists_reported(store)
    for d in devices:
        key = (d["site"], d["device"])
        behind = [{"list": n, "version": v, "newest": newest[(d["site"], n)]}
                  for n, v in sorted(_lists(d).items()) if v < newest[(d["site"], n)]]
        why = old.get(key, []) + reported.get(key, [])
        if behind and _age(d["state_at"], now) <= s.stale_list_s:
            why.append({"code": "list_behind", "lists": behind})
        if why:
            yield d["site"], d["device"], why


def stale_text(why: StaleWhy) -> str:
    """The English the ``stale_list`` alert has always stored (its ``detail``, for machines and logs)."""
    out = []
    for w in why:
        if w["code"] == "list_age":
            how = f"issued {w['issued_at']}" if w["issued_at"] else f"held since {w['since']}"
            out.append(f"{w['list']} {w['version']} is {w['hours']} h old ({how})")
        elif w["code"] == "door_reported":
            out.append(f"{w['list']} reported stale by the door ({w['at']})")
        else:
            out.append("list behind the site: " + ", ".join(
                sorted(f"{b['list']} {b['version']} < {b['newest']}" for b in w["lists"])))
    return "; ".join(out)


def stale_list(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
               devices: list[dict[str, Any]]) -> Iterable[Finding]:
    """``stale_reasons`` as alerts, worded in English (the alert's stored text is a contract)."""
    for site, device, why in stale_reasons(store, sites, s, now, devices):
        yield site, device, stale_text(why)


def _lists(d: dict[str, Any]) -> dict[str, int]:
    lists = d["state"].get("lists")
    if not isinstance(lists, dict):
        return {}
    return {str(k): v for k, v in lists.items() if type(v) is int}


def camera_faults(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
                  devices: list[dict[str, Any]]) -> Iterable[Finding]:
    since = iso(now - dt.timedelta(seconds=s.camera_window_s))
    for d in devices:
        n = store.device_alerts_since(d["site"], d["device"], "camera_fault", since)
        if n >= s.camera_faults:
            yield d["site"], d["device"], f"{n} camera faults in the last {s.camera_window_s / 60:.0f} min"


def clock_unsynced(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
                   devices: list[dict[str, Any]]) -> Iterable[Finding]:
    for d in devices:
        if d["state"].get("clock_synced") is False and d["status"] == "online":
            yield d["site"], d["device"], "the door's clock is not synchronised"


def gap_unhealed(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
                 devices: list[dict[str, Any]]) -> Iterable[Finding]:
    for st in store.streams():
        if st["gap_since"] and _age(st["gap_since"], now) > s.gap_s:
            missing = st["max_seq"] - st["min_seq"] + 1 - st["stored"]
            target = f"{st['device']}/{st['incarnation'] or '-'}"
            yield st["site"], target, f"{missing} decisions missing since {st['gap_since']}"


def venue_reports(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
                  devices: list[dict[str, Any]]) -> Iterable[Finding]:
    counts: dict[tuple[str, str], int] = {}
    for r in store.reports(open_only=True):
        counts[(r["site"], r["venue"])] = counts.get((r["site"], r["venue"]), 0) + 1
    for (site, venue), n in sorted(counts.items()):
        yield site, venue, f"{n} open citizens' report(s)"


def venue_unreadable(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
                     devices: list[dict[str, Any]]) -> Iterable[Finding]:
    """A venue of a manifest the collector could not read (its hours, a missing name): named, not fatal."""
    for site in sites.values():
        for venue, why in sorted(site.problems.items()):
            yield site.site, venue, f"venue {venue} cannot be read: {why}"


def report_storage(store: StoreBase, sites: dict[str, SiteInfo], s: RuleSettings, now: dt.datetime,
                   devices: list[dict[str, Any]]) -> Iterable[Finding]:
    """Citizens' reports or their photos near the storage cap (new ones are refused at the cap)."""
    from entryscan.collector.citizens import storage_findings

    yield from storage_findings(store)


CHECKS: dict[str, Callable[..., Iterable[Finding]]] = {
    "device_offline": device_offline, "venue_idle": venue_idle, "stale_list": stale_list,
    "camera_faults": camera_faults, "clock_unsynced": clock_unsynced, "gap_unhealed": gap_unhealed,
    "venue_reports": venue_reports, "venue_unreadable": venue_unreadable, "report_storage": report_storage,
}


def evaluate(store: StoreBase, sites: dict[str, SiteInfo], settings: RuleSettings,
             now: dt.datetime | None = None) -> dict[str, list[Finding]]:
    """Run every rule once: raise new findings, clear open alerts whose cause is gone."""
    now = now or dt.datetime.now(dt.UTC)
    devices = store.devices()
    found: dict[str, list[Finding]] = {}
    open_alerts = store.every_alert(open_only=True)  # all of them: one past the first 1,000 must clear too
    for rule, check in CHECKS.items():
        findings = list(check(store, sites, settings, now, devices))
        found[rule] = findings
        current = {(site, target) for site, target, _ in findings}
        for site, target, detail in findings:
            if store.raise_alert(rule, site, target, detail):
                log.warning("collector: alert %s raised for %s/%s: %s", rule, site, target, detail)
        for a in open_alerts:
            if a["rule"] == rule and (a["site"], a["target"]) not in current:
                store.clear_alert(rule, a["site"], a["target"])
                log.info("collector: alert %s cleared for %s/%s", rule, a["site"], a["target"])
    return found


def run_rules_forever(store: StoreBase, sites: dict[str, SiteInfo], settings: RuleSettings, interval_s: float,
                      done: threading.Event, after_round: Callable[[], None] | None = None) -> None:
    # The first round runs at once, so an unreadable venue is on the dashboard as the office starts.
    while True:
        try:
            evaluate(store, sites, settings)
        except Exception as exc:  # noqa: BLE001 - a failed evaluation is retried next round; ingest goes on
            log.error("collector: rule evaluation failed: %s", exc)
        if after_round is not None:
            after_round()  # the office's tables for Grafana (collector.office_tables.Publisher; never raises)
        if done.wait(interval_s):
            return
