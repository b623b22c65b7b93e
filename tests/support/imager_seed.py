"""A boot partition as Raspberry Pi Imager (cloud-init format, Trixie images) and the technician leave it.

Imager writes ``user-data`` and ``network-config`` (and keeps the image's ``meta-data``); the shape below follows
Imager's CustomisationGenerator (the singular ``user:`` block, a quoted hostname, ``manage_etc_hosts``, the
avahi-daemon package, ``ssh_pwauth: false`` and ``runcmd`` enabling ssh for key-only logins). The technician adds
``vendor-data``, the device's bundle in ``entryscan/`` and the source tree in ``entryscan/src``, as
docs/raspberry-pi.md says. Used by the host tests and by the virtual door's first-boot scenario.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.paths import REPO

VENDOR_DATA = REPO / "provisioning" / "cloud-init" / "vendor-data"


def user_data(user: str, hostname: str, ssh_key: str) -> str:
    return "\n".join([
        "#cloud-config",
        f'hostname: "{hostname}"',
        "manage_etc_hosts: true",
        "packages:",
        "- avahi-daemon",
        "",
        "apt:",
        "  preserve_sources_list: true",
        "  conf: |",
        "    Acquire {",
        '      Check-Date "false";',
        "    };",
        "",
        "user:",
        f'  name: "{user}"',
        "  shell: /bin/bash",
        "  lock_passwd: true",
        "  ssh_authorized_keys:",
        f'    - "{ssh_key}"',
        "  sudo: null",
        "",
        "ssh_pwauth: false",
        "",
        "runcmd:",
        "  - [ systemctl, enable, --now, ssh ]",
        "",
    ])


NETWORK_CONFIG = "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      optional: true\n"


def write_seed(boot: Path, bundle: Path, src: Path = REPO, *, user: str = "tech", hostname: str = "door-1",
               ssh_key: str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEntryscanTestKey tech@site",
               link_src: bool = False) -> Path:
    """Fill ``boot`` (the FAT partition's root); returns its ``entryscan/`` folder."""
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "user-data").write_text(user_data(user, hostname, ssh_key))
    (boot / "network-config").write_text(NETWORK_CONFIG)
    (boot / "meta-data").write_text(f"instance-id: entryscan-{hostname}\n")
    shutil.copyfile(VENDOR_DATA, boot / "vendor-data")
    folder = boot / "entryscan"
    shutil.copytree(bundle, folder)
    if link_src:
        (folder / "src").symlink_to(src)
    else:
        shutil.copytree(src, folder / "src", ignore=shutil.ignore_patterns(
            ".git", ".venv", ".typecheck", "__pycache__", "*.egg-info", ".pytest_cache", ".mypy_cache", ".ruff_cache",
            "build", "dist"))
    return folder
