"""The office bench's worker: times the office's pages as served by one checkout of the code.

``python -m bench.office_pages init URL`` migrates the database to that checkout's schema;
``python -m bench.office_pages pages URL SITE_DIR LABEL SAMPLES BUDGET_S DAY`` serves the pages with
that checkout's web stack (uvicorn, a logged-in operator, the API token) and prints one JSON line per
page: p50/p99/max of ``SAMPLES`` sequential requests (fewer when a page exhausts ``BUDGET_S``).

It imports only ``entryscan`` and the standard library, so the orchestrator (``bench.office``) can run
it once with main's code on ``PYTHONPATH`` and once with this branch's, side by side in one run.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PASSWORD = "bench-operator-password"
TOKEN = "bench-token-0123456789abcdef"


def _percentile(xs: list[float], p: float) -> float:
    ordered = sorted(xs)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def _emit(label: str, page: str, samples: list[float], status: int, **extra: Any) -> None:
    ms = [s * 1000 for s in samples]
    line = {"bench": "office", "metric": "page_ms_p99", "value": round(_percentile(ms, 99), 1) if ms else None,
            "unit": "ms", "code": label, "page": page, "p50_ms": round(_percentile(ms, 50), 1) if ms else None,
            "max_ms": round(max(ms), 1) if ms else None, "n": len(ms), "status": status, **extra}
    print(json.dumps(line), flush=True)


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str, token: bool = False) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
        req = urllib.request.Request(self.base + path, headers=headers)
        try:
            with self.opener.open(req, timeout=600) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def login(self) -> None:
        import re

        _, page = self.get("/login")
        token = re.search(rb'name="csrf" value="([^"]+)"', page)
        fields = {"username": "operator", "password": PASSWORD, **({"csrf": token.group(1).decode()} if token else {})}
        req = urllib.request.Request(self.base + "/login", data=urllib.parse.urlencode(fields).encode(),
                                     headers={"Origin": self.base})
        with self.opener.open(req, timeout=60) as resp:
            if resp.status != 200:
                raise RuntimeError(f"login answered {resp.status}")


def _time(client: Client, path: str, token: bool, samples: int, budget_s: float) -> tuple[list[float], int]:
    took: list[float] = []
    status = 0
    started = time.monotonic()
    while len(took) < samples and (len(took) < 3 or time.monotonic() - started < budget_s):
        t0 = time.perf_counter()
        status, _ = client.get(path, token)
        took.append(time.perf_counter() - t0)
        if status >= 400:
            break
    return took, status


def pages(url: str, site_dir: Path, label: str, samples: int, budget_s: float, day: str) -> None:
    from entryscan.collector.live import Live
    from entryscan.collector.site import load_site
    from entryscan.collector.store import open_store
    from entryscan.collector.web.auth import hash_password
    from entryscan.collector.web.server import make_server

    store = open_store(url)
    sites = {"hq": load_site(site_dir)}
    tmp = Path(tempfile.mkdtemp(prefix="entryscan-bench-office-"))
    (tmp / "users").write_text(f"operator:{hash_password(PASSWORD)}\n")
    (tmp / "token").write_text(TOKEN + "\n")
    (tmp / "token").chmod(0o600)
    args = argparse.Namespace(http="127.0.0.1:0", users=tmp / "users", api_token_file=tmp / "token", timezone="")
    server = make_server(args, store, Live(), sites).start()
    client = Client(f"http://127.0.0.1:{server.server_address[1]}")
    client.login()
    venue = min(sites["hq"].venues)
    listing = [("dashboard", "/fleet", False), ("door page", "/device/hq/d0001", False),
               ("door chart", "/chart/hq/d0001.svg", False), ("compliance", f"/compliance?day={day}", False),
               ("violations", "/violations", False), ("map", "/map", False),
               ("reports", "/reports", False), ("venue page (public)", f"/v/hq/{venue}", False),
               ("api fleet", "/api/fleet", True), ("api entries", "/api/entries?limit=100", True),
               ("api door entries", "/api/entries?site=hq&device=d0001&limit=100", True),
               ("api alerts", "/api/alerts?open=1", True), ("api reports", "/api/reports", True)]
    try:
        for name, path, token in listing:
            took, status = _time(client, path, token, samples, budget_s)
            if status == 404:
                print(json.dumps({"bench": "office", "metric": "page_missing", "value": None, "unit": "",
                                  "code": label, "page": name, "path": path}), flush=True)
                continue
            _emit(label, name, took, status, path=path)
        _function_timings(store, sites, label, day, samples, budget_s)
    finally:
        server.shutdown()
        server.server_close()
        store.close()


def _function_timings(store: Any, sites: dict[str, Any], label: str, day: str, samples: int,
                      budget_s: float) -> None:
    """The violations list as a function (main has no page for it): what the office's first page computes."""
    import datetime as dt

    from entryscan.collector import violations

    took: list[float] = []
    started = time.monotonic()
    while len(took) < samples and (len(took) < 3 or time.monotonic() - started < budget_s):
        t0 = time.perf_counter()
        violations.premises(store, sites, dt.date.fromisoformat(day))
        took.append(time.perf_counter() - t0)
    _emit(label, "violations (premises())", took, 200)


def main(argv: list[str]) -> int:
    import entryscan.collector

    print(f"office_pages: entryscan.collector from {Path(entryscan.collector.__file__).parent}", file=sys.stderr)
    if argv[0] == "init":
        from entryscan.collector.store import open_store

        t0 = time.perf_counter()
        store = open_store(argv[1])
        seconds = time.perf_counter() - t0
        version = store.schema_version()  # type: ignore[attr-defined]
        store.close()
        print(json.dumps({"bench": "office", "metric": "open_and_migrate_s", "value": round(seconds, 2),
                          "unit": "s", "schema_version": version}), flush=True)
        return 0
    url, site_dir, label, samples, budget, day = argv[1:7]
    pages(url, Path(site_dir), label, int(samples), float(budget), day)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
