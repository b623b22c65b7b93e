"""``entryscan check``: one payload (or every code in one image) through the real policy."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sys
from pathlib import Path

from entryscan.device.access.clock import FixedClock, SystemClock
from entryscan.device.config.paths import existing_subject_key
from entryscan.device.config.settings import load_config
from entryscan.device.errors import ConfigError
from entryscan.device.model import Decision
from entryscan.device.ports import Clock


def parse_instant(text: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)  # 3.11 accepts a trailing Z
    except ValueError:
        raise ConfigError("--at", f"not an ISO 8601 time: {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def decision_json(decision: Decision) -> dict[str, object]:
    cred = decision.credential
    credential: dict[str, object] = {"type": cred.type}
    if cred.subject:
        credential["subject"] = cred.subject
    if cred.role:
        credential["role"] = cred.role
    return {
        "decision": decision.verdict.value,
        "reason": decision.reason.value,
        "credential": credential,
        "clock_synced": decision.clock_synced,
    }


def check_payloads(config_path: Path, at: str | None, text: str | None, image: str | None, backend: str) -> int:
    from entryscan.device.access.assemble import make_policy
    from entryscan.device.lifecycle.wipe import ensure_provisioned

    cfg = load_config(config_path)
    ensure_provisioned(cfg)
    clock: Clock = FixedClock(parse_instant(at)) if at else SystemClock()
    key = existing_subject_key(cfg)
    if key is None:
        # check writes nothing: a key made here would land in the source tree when run on the sample door's
        # config, and a root-owned one in the state folder before the first start, where the service user
        # cannot read it. Subjects printed now differ from the ones the door will journal.
        print(f"entryscan check: no subject key yet ({cfg.subject_key_path}; the door makes it when it first "
              "starts): subjects below use a temporary key", file=sys.stderr)
        key = secrets.token_bytes(32)
    policy = make_policy(cfg, clock, key)
    if text is not None:
        # argv arrives decoded with surrogateescape: os.fsencode gives back the exact bytes typed.
        payloads = [os.fsencode(text)]
    else:
        payloads = _decode_image(str(image), backend)
        if not payloads:
            print(json.dumps({"decision": "deny", "reason": "unknown_format", "credential": {"type": "none"},
                              "detail": "no QR code found in the image"}))
            return 0
    for payload in payloads:
        # A dry run: a one-time pass is not consumed, no passage is recorded.
        print(json.dumps(decision_json(policy.decide(payload))))
    return 0


def _decode_image(path: str, backend: str) -> list[bytes]:
    from entryscan.device.scan.decoders import BACKENDS, load_grey
    from entryscan.device.scan.filescan import FileScanner

    if backend not in BACKENDS:
        raise ConfigError("--backend", f"must be one of {', '.join(BACKENDS)} (got {backend!r})")
    return [code.raw for code in FileScanner(BACKENDS[backend]).decode(load_grey(path))]
