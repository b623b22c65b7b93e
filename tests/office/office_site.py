"""One district's data for the office's page tests: a site made with the provisioning tools' own manifest
writer and venue signing, three communes, doors online, offline and never seen, a venue without doors,
one the collector cannot read (the README's ``T2-T6`` hours on the others), entries, reports, board checks.

``pages(base, board_url)`` lists every page of the collector (operator and public) the tests walk.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from entryscan.collector.site import SiteInfo, load_site
from entryscan.collector.store import StoreBase
from entryscan.provisioning import manifest, venue
from tests.support.events import alert, entry

DAY = "2026-11-25"  # a Wednesday: the venues are open 07:30-17:00 local (UTC+7)
BEN_NGHE = "Phường Bến Nghé"
BROKEN = """
[[venues]]
id = "nha-van-hoa"
name = "Nhà văn hoá Phường 3"
opening_hours = "sometimes"
"""


def _venue(vid: str, name: str, commune: str, lat: float, lon: float) -> manifest.Venue:
    return manifest.Venue(id=vid, name=name, address=f"{name}, {commune}, Quận 1", lat=lat, lon=lon,
                          opening_hours="T2-T6 07:30-17:00", commune=commune)


VENUES = (
    _venue("ubnd-ben-nghe", "UBND Phường Bến Nghé", BEN_NGHE, 10.7797, 106.6990),
    _venue("thu-vien", "Thư viện Quận 1", BEN_NGHE, 10.7769, 106.7009),
    _venue("nha-thi-dau", "Nhà thi đấu", BEN_NGHE, 10.7812, 106.6956),
    _venue("cho-ben-thanh", "Chợ Bến Thành", "Phường Bến Thành", 10.7725, 106.6980),
    _venue("cong-vien", "Công viên 23/9", "Phường Phạm Ngũ Lão", 10.7687, 106.6935),
)
DOORS = (("door-1", "ubnd-ben-nghe"), ("door-2", "thu-vien"), ("door-3", "nha-thi-dau"), ("door-4", "cong-vien"))


@dataclass
class Office:
    site_dir: Path
    sites: dict[str, SiteInfo]
    key: ed25519.Ed25519PrivateKey

    def board_url(self, base: str, venue_id: str = "ubnd-ben-nghe") -> str:
        found = next(v for v in VENUES if v.id == venue_id)
        return venue.sign_venue_url(base, "q1", found, self.key)


def make_site(root: Path, language: str = "vi") -> Office:
    site_dir = root / "q1"
    site_dir.mkdir()
    key = ed25519.Ed25519PrivateKey.generate()
    (site_dir / "venues.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    doc = manifest.Manifest(site="q1", name="Quận 1", timezone="Asia/Ho_Chi_Minh", language=language,
                            venues=VENUES,
                            devices=tuple(manifest.DeviceRecord(id=d, door="main", venue=v) for d, v in DOORS))
    (site_dir / "site.toml").write_text(manifest.dumps(doc) + BROKEN, encoding="utf-8")
    return Office(site_dir, {"q1": load_site(site_dir)}, key)


def _scan(seq: int, device: str, ts: str, **kw: Any) -> tuple[str, bytes]:
    return f"entryscan/q1/{device}/entry", entry(seq, device=device, site="q1", ts=ts, **kw)


def fill(store: StoreBase) -> None:
    """door-1 scans all day; door-2 went offline; door-3 is online without a scan; door-4 never spoke."""
    messages = [("entryscan/q1/door-1/status", b"online"), ("entryscan/q1/door-2/status", b"offline"),
                ("entryscan/q1/door-3/status", b"online")]
    for seq, hour in enumerate([1, 1, 2, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 9], 1):
        messages.append(_scan(seq, "door-1", f"{DAY}T{hour:02d}:{seq * 3:02d}:00.000Z"))
    now = dt.datetime.now(dt.UTC)
    for seq in range(15, 21):
        stamp = (now - dt.timedelta(minutes=37 * (21 - seq))).isoformat(timespec="milliseconds")
        messages.append(_scan(seq, "door-1", stamp.replace("+00:00", "Z"),
                              **({"decision": "deny", "reason": "not_allowed"} if seq % 3 == 0 else {})))
    messages.append(("entryscan/q1/door-1/alert", alert("camera_fault", device="door-1", site="q1")))
    messages.append(("entryscan/q1/door-1/state", json.dumps({"firmware": "1.4.0", "camera": "ok",
                                                               "clock_synced": True, "lists": {"revoked": 3}}
                                                              ).encode()))
    store.ingest_batch(messages)
    store.add_report("q1", "cho-ben-thanh", "Không có bảng QR ở cổng chính", "0903123456", "10.0.0.7")
    store.add_report("q1", "thu-vien", "Nhân viên không kiểm tra mã QR", "", "10.0.0.8")
    for _ in range(3):
        store.count_board_check("q1", "nha-thi-dau", "forged")
    store.count_board_check("q1", "thu-vien", "details_updated")


def operator_pages() -> list[tuple[str, str]]:
    """(name, path) of every page behind the login."""
    return [("violations", f"/?day={DAY}"),
            ("violations-print", f"/violations/print?commune=Ph%C6%B0%E1%BB%9Dng%20B%E1%BA%BFn%20Ngh%C3%A9&day={DAY}"),
            ("premises", f"/premises/q1/ubnd-ben-nghe?day={DAY}"),
            ("premises-unreadable", f"/premises/q1/nha-van-hoa?day={DAY}"),
            ("map", f"/map?day={DAY}"), ("fleet", "/fleet"), ("compliance", f"/compliance?day={DAY}"),
            ("reports", "/reports"), ("device", "/device/q1/door-1"), ("not-found", "/no-such-page")]


def public_pages(office: Office, base: str) -> list[tuple[str, str]]:
    """(name, path) of every page a visitor sees without logging in."""
    board = office.board_url(base)
    path = board[len(base):]
    forged = path.replace("&s=", "&s=" + ("A" if "&s=A" not in path else "B"), 1)[:len(path)]
    return [("login", "/login"), ("board", path), ("board-forged", forged), ("board-unknown-site", "/v/zz/nowhere")]
