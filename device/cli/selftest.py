"""``entryscan selftest``: exercise the real hardware of a Raspberry Pi and print a table."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from entryscan.device.access.clock import kernel_clock_synced
from entryscan.device.config.settings import Config, load_config
from entryscan.device.hardware.lock import HardwareBusy, HardwareLock, lock_path

MODEL_PATH = Path("/proc/device-tree/model")
MIN_SHARPNESS = 20.0  # variance of the Laplacian; below it the frame is (nearly) featureless
MIN_FREE_BYTES = 100 * 1024 * 1024


def on_raspberry_pi(model_path: Path = MODEL_PATH) -> bool:
    try:
        return "Raspberry Pi" in model_path.read_text(errors="replace")
    except OSError:
        return False


def check_camera(cfg: Config) -> str:
    from entryscan.device.builder import make_camera
    from entryscan.device.scan.decoders import make_decoder

    camera = make_camera(cfg)
    camera.open()
    try:
        frame = camera.capture(cfg.camera.timeout_s)
        if frame is None:
            return "FAIL no frame"
        codes = make_decoder(cfg.decoder.backend).decode(frame.image)
        h, w = frame.image.shape
        focus = sharpness(frame.image)
        verdict = "ok" if focus >= MIN_SHARPNESS else "WARN"
        return (f"{verdict} {w}x{h}, mean level {float(frame.image.mean()):.0f}, sharpness {focus:.0f}"
                f"{'' if focus >= MIN_SHARPNESS else f' (< {MIN_SHARPNESS}: lens dirty, covered or out of focus?)'}, "
                f"{len(codes)} QR code(s) in view")
    finally:
        camera.close()


def check_outputs(cfg: Config) -> str:
    from entryscan.device.hardware.feedback import GpioFeedback
    from entryscan.device.hardware.pins import hardware_pin_factory

    pins = hardware_pin_factory()
    feedback = GpioFeedback(cfg.feedback, cfg.relay, pin_factory=pins)
    try:
        for name, dev in feedback.devices.items():
            if name == "relay":
                dev.blink(on_time=0.3, off_time=0, n=1, background=False)
            else:
                dev.blink(on_time=0.25, off_time=0.25, n=2, background=False)
        return f"ok pulsed {', '.join(feedback.devices)} (watch and listen)"
    finally:
        feedback.close()
        pins.close()


def check_broker(cfg: Config) -> str:
    """A real MQTT v5 CONNECT with the device's TLS identity, under a separate client id.

    The daemon's own client id is not used: the broker would otherwise close the
    running daemon's session to make room for ours.
    """
    import threading

    client = _selftest_client(cfg)
    answered = threading.Event()
    outcome: list[str] = []

    def on_connect(c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        outcome.append(str(rc))
        answered.set()

    client.on_connect = on_connect
    started = time.monotonic()
    client.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=10)
    client.loop_start()
    try:
        if not answered.wait(10):
            return f"FAIL no CONNACK from {cfg.mqtt.host}:{cfg.mqtt.port} within 10 s"
    finally:
        client.disconnect()
        client.loop_stop()
    scheme = "TLS" if cfg.mqtt.tls else "plain"
    if outcome[0] != "Success":
        return f"FAIL broker refused ({outcome[0]})"
    return f"ok MQTT v5 over {scheme} to {cfg.mqtt.host}:{cfg.mqtt.port} in {1000 * (time.monotonic() - started):.0f} ms"


def sharpness(image: Any) -> float:
    """Variance of the 4-neighbour Laplacian of the grey frame: the usual focus figure (higher = sharper).

    A QR held in front of a focused camera gives hundreds; a blank wall, a covered or badly
    defocused lens gives a few units.
    """
    import numpy as np

    grey = np.asarray(image, dtype=np.float32)
    if grey.ndim != 2 or min(grey.shape) < 3:
        return 0.0
    lap = (4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:])
    return float(lap.var())


def check_storage(cfg: Config) -> str:
    """Free space where the journal lives, and the journal's size on disk (with its WAL)."""
    import shutil

    folder = cfg.journal.path.parent
    free = shutil.disk_usage(folder if folder.exists() else Path("/")).free
    size = sum(p.stat().st_size for p in folder.glob(cfg.journal.path.name + "*") if p.is_file()) \
        if folder.exists() else 0
    verdict = "FAIL" if free < MIN_FREE_BYTES else "ok"
    return f"{verdict} {free / 1e9:.2f} GB free on {folder}, journal {size / 1e6:.2f} MB"


def check_roundtrip(cfg: Config, timeout_s: float = 10.0) -> str:
    """Publish a nonce on the device's own ``selftest`` topic and read it back through the broker (its ACL
    lets a device read and write only that one topic of its own for this)."""
    import secrets
    import threading

    from entryscan.device.delivery.topics import Topics

    topic = Topics(cfg.mqtt.topic_prefix, cfg.device.site, cfg.device.id).base + "/selftest"
    nonce = secrets.token_hex(8).encode()
    came_back, acked = threading.Event(), []
    client = _selftest_client(cfg)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, mid, rcs, p: c.publish(topic, nonce, qos=1)
    client.on_publish = lambda c, u, mid, rc, p: acked.append(rc.value)
    client.on_message = lambda c, u, msg: came_back.set() if msg.payload == nonce else None
    started = time.monotonic()
    client.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=10)
    client.loop_start()
    try:
        ok = came_back.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    if ok:
        return f"ok published and read back on {topic} in {1000 * (time.monotonic() - started):.0f} ms"
    refused = [f"0x{code:02x}" for code in acked if code >= 0x80]
    return f"FAIL nothing came back on {topic} within {timeout_s:g} s" + (
        f" (broker refused the publish: {refused[0]})" if refused else "")


def _selftest_client(cfg: Config) -> Any:
    import dataclasses

    from entryscan.device.delivery.client import identity, new_client, tls_context

    ident = identity(cfg.mqtt, site=cfg.device.site, device=cfg.device.id)
    ident = dataclasses.replace(ident, client_id=f"{ident.client_id}-selftest")
    client = new_client(cfg.mqtt, ident, tls_context(cfg.mqtt) if cfg.mqtt.tls else None, "selftest/none", 1)
    client.will_clear()
    return client


def check_clock(cfg: Config) -> str:
    return "ok synchronised" if kernel_clock_synced() else "WARN not synchronised (time-bound passes denied)"


CHECKS: tuple[tuple[str, Callable[[Config], str]], ...] = (
    ("camera", check_camera), ("leds+buzzer+relay", check_outputs),
    ("broker", check_broker), ("publish round trip", check_roundtrip), ("storage", check_storage),
    ("clock", check_clock),
)


EX_TEMPFAIL = 75
EX_UNAVAILABLE = 69  # not a Pi: nothing was tested, and a script must not read that as a pass


def run_selftest(config_path: Path, model_path: Path = MODEL_PATH) -> int:
    if not on_raspberry_pi(model_path):
        print("entryscan selftest needs a Raspberry Pi (no /proc/device-tree/model naming one): nothing tested")
        return EX_UNAVAILABLE
    cfg = load_config(config_path)
    try:
        lock = HardwareLock(lock_path(cfg.journal.path)).acquire_existing()
    except HardwareBusy as exc:
        print(f"entryscan selftest: refused: {exc}.\nThe entryscan service owns the camera and pins while it "
              "runs: `sudo systemctl stop entryscan`, run the selftest, then `sudo systemctl start entryscan`.")
        return EX_TEMPFAIL
    try:
        return _run_checks(cfg)
    finally:
        lock.release()


def _run_checks(cfg: Config) -> int:
    failed = 0
    for name, check in CHECKS:
        try:
            result = check(cfg)
        except Exception as exc:  # noqa: BLE001 - the table reports every failure
            result = f"FAIL {type(exc).__name__}: {exc}"
        failed += result.startswith("FAIL")
        print(f"{name:<20} {result}")
    return 1 if failed else 0
