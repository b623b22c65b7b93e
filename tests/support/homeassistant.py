"""A real Home Assistant core, run from the Debian testing root that ``scripts/ha-root.sh`` builds.

Current Home Assistant needs Python >= 3.14.2, which this machine's Debian does not have, so it runs in that root
under ``chroot`` (root only, nothing to install on a fresh CI machine; it shares the host's network, so it reaches
the test mosquitto on loopback). Each instance is a fresh install: its own config folder inside the root (removed
afterwards), its own HTTP port, onboarded through the REST onboarding endpoints as a user would, then driven with
a long-lived token over REST and the websocket API (the entity and device registries, with unique ids, are only
on the websocket).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import websocket  # websocket-client (a dependency of selenium, in the dev extra)

from tests.support.mosquitto import free_port

ROOT_ENV = "ENTRYSCAN_HA_ROOT"
CONFIGURATION = """\
homeassistant:
  name: entryscan test
  time_zone: UTC
  unit_system: metric
  country: VN
  latitude: 21.03
  longitude: 105.85
  elevation: 10
http:
  server_host: 127.0.0.1
  server_port: {port}
logger:
  default: warning
"""
PASSWORD = "entryscan-test-password"


def ha_root() -> Path | None:
    """The built root named by ENTRYSCAN_HA_ROOT (scripts/test-ha.sh sets it), or None."""
    value = os.environ.get(ROOT_ENV, "")
    root = Path(value) if value else None
    return root if root is not None and (root / ".entryscan-ready").is_file() else None


class WebSocket:
    """Home Assistant's websocket API: one authenticated connection, commands by id, event subscriptions kept."""

    def __init__(self, url: str, token: str) -> None:
        self._ws = websocket.create_connection(url, timeout=30)
        assert json.loads(self._ws.recv())["type"] == "auth_required"
        self._ws.send(json.dumps({"type": "auth", "access_token": token}))
        answer = json.loads(self._ws.recv())
        assert answer["type"] == "auth_ok", answer
        self._next = 1
        self._lock = threading.Lock()
        self._results: dict[int, dict[str, Any]] = {}
        self._events: dict[int, list[dict[str, Any]]] = {}
        self._cond = threading.Condition(self._lock)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                message = json.loads(self._ws.recv())
            except (websocket.WebSocketException, OSError, ValueError):
                return
            with self._cond:
                if message.get("type") == "event" and message.get("id") in self._events:
                    self._events[message["id"]].append(message["event"])
                else:
                    self._results[message.get("id", 0)] = message
                    self._cond.notify_all()

    def _send(self, command: dict[str, Any]) -> int:
        with self._lock:
            ident = self._next
            self._next += 1
        self._ws.send(json.dumps({**command, "id": ident}))
        return ident

    def _answer(self, ident: int, timeout: float) -> dict[str, Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: ident in self._results, timeout):
                raise TimeoutError(f"no answer to websocket command {ident}")
            answer = self._results.pop(ident)
        if not answer.get("success", False):
            raise AssertionError(f"websocket command failed: {answer}")
        return answer

    def call(self, kind: str, timeout: float = 30.0, **fields: Any) -> Any:
        return self._answer(self._send({"type": kind, **fields}), timeout).get("result")

    def subscribe(self, event_type: str) -> list[dict[str, Any]]:
        """Events of ``event_type`` from now on, appended as they arrive (read under no lock: list appends)."""
        with self._lock:
            ident = self._next
            self._events[ident] = []
        events = self._events[ident]
        self._answer(self._send({"type": "subscribe_events", "event_type": event_type}), 30.0)
        return events

    def close(self) -> None:
        self._ws.close()


class HomeAssistant:
    """One fresh Home Assistant install: ``start()``, ``onboard()``, ``add_mqtt(port)``, then the API helpers."""

    def __init__(self, root: Path, log_dir: Path) -> None:
        self.root = root
        self.name = f"entryscan-ha-{uuid.uuid4().hex[:8]}"
        self.config = root / "tmp" / self.name  # the same folder is /tmp/<name> inside the root
        self.config.mkdir(parents=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        (self.config / "configuration.yaml").write_text(CONFIGURATION.format(port=self.port))
        self.log_path = log_dir / f"{self.name}.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.ws: WebSocket | None = None

    def start(self, timeout: float = 240.0) -> HomeAssistant:
        env = ["env", "-i", "PATH=/opt/ha/bin:/usr/bin:/bin", "HOME=/root", "TZ=UTC", "LANG=C.UTF-8"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(["chroot", str(self.root), *env, "/opt/ha/bin/hass", "--config",
                                          f"/tmp/{self.name}", "--skip-pip"], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Home Assistant exited with {self.proc.returncode}: {self.log()}")
            try:
                if isinstance(self.request("GET", "/api/onboarding", auth=False), list):
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"Home Assistant did not answer on {self.base} in {timeout:.0f} s: {self.log()}")

    def log(self, chars: int = 3000) -> str:
        text = ""
        for path in (self.log_path, self.config / "home-assistant.log"):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")[-chars:]
        return text

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                form: dict[str, str] | None = None, timeout: float = 30.0) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            raw = answer.read()
        return json.loads(raw) if raw else None

    def onboard(self) -> None:
        """The onboarding a new user does in the browser, through the same REST endpoints, then a long-lived
        token (made over the websocket, as the profile page does) for everything after. The core_config step
        is left out: it sets up integrations that reach the Internet (weather, radio, text-to-speech)."""
        client_id = f"{self.base}/"
        user = self.request("POST", "/api/onboarding/users", auth=False, body={
            "client_id": client_id, "name": "Technician", "username": "tech", "password": PASSWORD,
            "language": "en"})
        tokens = self.request("POST", "/auth/token", auth=False, form={
            "grant_type": "authorization_code", "code": user["auth_code"], "client_id": client_id})
        self.token = tokens["access_token"]
        self.request("POST", "/api/onboarding/integration", body={"client_id": client_id,
                                                                   "redirect_uri": f"{self.base}/?auth_callback=1"})
        short = WebSocket(self.ws_url, self.token)
        try:
            self.token = short.call("auth/long_lived_access_token", client_name="entryscan tests", lifespan=1)
        finally:
            short.close()
        self.ws = WebSocket(self.ws_url, self.token)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/websocket"

    def add_mqtt(self, broker_port: int) -> dict[str, Any]:
        """The MQTT integration's config flow, as its form asks: broker, port, protocol and the (collapsed)
        ``other_settings`` section, which the flow requires even when nothing in it changes."""
        flow = self.request("POST", "/api/config/config_entries/flow", body={"handler": "mqtt"})
        assert flow.get("step_id") == "broker", flow
        result = self.request("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", body={
            "broker": "127.0.0.1", "port": broker_port, "protocol": "5",
            "other_settings": {"set_client_cert": False, "set_ca_cert": "off", "transport": "tcp"}})
        assert result.get("type") == "create_entry", result
        return dict(result)

    def call(self, kind: str, **fields: Any) -> Any:
        assert self.ws is not None, "onboard() first"
        return self.ws.call(kind, **fields)

    def entities(self, platform: str = "mqtt") -> dict[str, dict[str, Any]]:
        """The entity registry's entries of ``platform``, by unique id."""
        return {e["unique_id"]: e for e in self.call("config/entity_registry/list") if e["platform"] == platform}

    def devices(self) -> list[dict[str, Any]]:
        return list(self.call("config/device_registry/list"))

    def device(self, identifier: str) -> dict[str, Any] | None:
        """The device whose identifiers include ("mqtt", identifier)."""
        for device in self.devices():
            if ["mqtt", identifier] in device["identifiers"]:
                return device
        return None

    def state(self, entity_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.request("GET", f"/api/states/{entity_id}"))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.config, ignore_errors=True)
