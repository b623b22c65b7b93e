"""The board's page after a small edit of its venue: the printed board stays genuine, says calmly that the
details were updated, shows the current ones, and still takes reports."""

from __future__ import annotations

from pathlib import Path

from entryscan.collector.site import load_site
from entryscan.collector.store import open_store
from entryscan.provisioning.__main__ import main
from tests.support.citizens import VENUE, post_report, provision
from tests.support.collector_web import WebUnderTest, request
from tests.support.mosquitto import free_port


def test_a_board_of_an_earlier_version_still_takes_reports(tmp_path: Path) -> None:
    port = free_port()
    site_dir, board = provision(tmp_path / "sites", f"http://127.0.0.1:{port}")
    # The commune is renamed (printed on the board, not signed) and the hours change: the venue's version
    # grows, the board stays genuine and its page shows the new details.
    assert main(["venue", "add", "--site-dir", str(site_dir), "--venue", VENUE, "--replace", "--name", "Chợ Bến Thành",
                 "--address", "Lê Lợi, Quận 1", "--lat", "10.772431", "--lon", "106.698084",
                 "--opening-hours", "T2-T6 07:30-17:00", "--commune", "Phường Sài Gòn"]) == 0
    store = open_store(tmp_path / "c.db")
    web = WebUnderTest(tmp_path, store, {"hq": load_site(site_dir)}, http=f"127.0.0.1:{port}")
    try:
        page = request(board)[2].decode()
        assert 'class="ok" id="verdict"' in page and 'id="details-updated"' in page
        assert ">T2-T6 07:30-17:00</td>" in page and ">Phường Sài Gòn</td>" in page
        status, _, _ = post_report(board, {"category": "cannot_scan"})
        assert status == 303
        (report,) = store.reports()
        assert report["board_version"] == 1  # the version the board was printed for
    finally:
        web.stop()
        store.close()
