"""A site with a venue board made as a technician makes one (``entryscan-provision site init``, ``venue add``,
``poster``), photos a phone would send, and the citizen's report form posted as a browser posts it."""

from __future__ import annotations

import contextlib
import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from email.message import Message
from pathlib import Path
from typing import Any

from PIL import Image

from entryscan.provisioning.__main__ import main
from tests.support.collector_web import form_token, new_opener, request

VENUE = "cho-ben-thanh"
NAME = "Chợ Bến Thành"
COMMUNE = "Phường Bến Thành"
GPS = (10.772431, 106.698084)


def provision(root: Path, base: str, *, site: str = "hq", language: str = "vi") -> tuple[Path, str]:
    """A site folder whose one venue has a board pointing at ``base``; returns (folder, the board's URL)."""
    site_dir = root / site
    assert main(["site", "init", "--site", site, "--dir", str(site_dir), "--name", "Phòng Văn hoá - Thông tin",
                 "--language", language, "--timezone", "Asia/Ho_Chi_Minh"]) == 0
    assert main(["venue", "add", "--site-dir", str(site_dir), "--venue", VENUE, "--name", NAME,
                 "--address", "Lê Lợi, Quận 1", "--lat", str(GPS[0]), "--lon", str(GPS[1]),
                 "--opening-hours", "T2-CN 06:00-22:00", "--commune", COMMUNE]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["poster", "--site-dir", str(site_dir), "--venue", VENUE, "--base-url", base,
                     "--out", str(root / "board.png")]) == 0
    return site_dir, str(json.loads(out.getvalue().strip().splitlines()[-1])["url"])


def _rational(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def jpeg_with_gps(size: tuple[int, int] = (800, 600), place: tuple[float, float] = GPS) -> bytes:
    """A real JPEG as a phone writes one: EXIF with the camera's make and a GPS position."""
    image = Image.new("RGB", size, (180, 40, 40))
    for x in range(0, size[0], 40):
        image.paste((20, 20, 160), (x, 0, x + 20, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: _rational(place[0]), 3: "E", 4: _rational(place[1])})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return bool(image.getexif().get_ifd(0x8825)) or "exif" in image.info


def multipart(fields: dict[str, str], files: dict[str, tuple[str, str, bytes]] | None = None,
              boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type; ``files`` maps a field to (filename, type, bytes)."""
    boundary = boundary or uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode()
        out += b"\r\n"
    for name, (filename, kind, data) in (files or {}).items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {kind}\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def post_report(board_url: str, fields: dict[str, str], photo: tuple[str, str, bytes] | None = None, *,
                opener: Any = None, headers: dict[str, str] | None = None,
                body: bytes | None = None, content_type: str | None = None, lang: str | None = "en",
                ) -> tuple[int, Message, bytes]:
    """GET the board's page, then post its report form (with its token) as multipart, like a browser
    (having chosen ``lang`` on the page's language switch, so the answers can be read in it)."""
    opener = opener or new_opener()
    parts = urllib.parse.urlsplit(board_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if lang:
        request(f"{origin}/lang/{lang}", opener=opener)
    status, _, page = request(board_url, opener=opener)
    assert status in (200, 403, 404), status
    action = re.search(r'<form method="post" action="([^"]+)"', page.decode())
    target = origin + action[1].replace("&amp;", "&") if action else board_url
    token = form_token(page.decode(), "/v/")
    if body is None:
        body, content_type = multipart({**fields, "csrf": token}, {"photo": photo} if photo else None)
    req = urllib.request.Request(target, data=body, method="POST", headers={
        "Origin": origin, "Content-Type": content_type or "", **(headers or {})})
    try:
        with opener.open(req, timeout=20) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def sign_board(site_dir: Path, base: str, venue: str) -> str:
    """The signed board URL of ``venue`` in a hand-written site folder (a venue key is made the first time)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from entryscan.provisioning import manifest
    from entryscan.provisioning.venue import load_signing_key, sign_venue_url

    private = site_dir / "venues.key"
    if not private.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        private.chmod(0o600)
        (site_dir / "venues.pub").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    site = manifest.load(site_dir)
    record = site.venue(venue)
    assert record is not None, venue
    return sign_venue_url(base, site.site, record, load_signing_key(site_dir))
