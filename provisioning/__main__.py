"""``entryscan-provision``: the field technician's tool for per-device bundles."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from entryscan.device.errors import ConfigError
from entryscan.provisioning.bundle import DeviceSpec, build_bundle


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="entryscan-provision", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bundle = sub.add_parser("bundle", help="key, CSR, config and broker ACL for one device")
    bundle.add_argument("--device", required=True, help="device id, e.g. door-1")
    bundle.add_argument("--site", required=True)
    bundle.add_argument("--door", required=True)
    bundle.add_argument("--broker", required=True, help="mqtts://HOST[:PORT]")
    bundle.add_argument("--prefix", default="entryscan", help="MQTT topic prefix")
    bundle.add_argument("--site-key", type=Path, required=True,
                        help="the site's pseudonym key file (created 0600 if missing; shared by the site's doors)")
    bundle.add_argument("--out", type=Path, required=True, help="new folder for the bundle")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    spec = DeviceSpec(device=args.device, site=args.site, door=args.door, broker=args.broker, prefix=args.prefix)
    try:
        files = build_bundle(spec, args.site_key, args.out)
    except (ConfigError, FileExistsError) as exc:
        print(f"entryscan-provision: {exc}", file=sys.stderr)
        return 78
    for path in files:
        print(path)
    print("next: have the site CA sign device.csr into device.pem; copy the bundle to /etc/entryscan "
          "(0640 root:entryscan, keys 0600 entryscan); add mosquitto.acl to the broker's ACL file.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
