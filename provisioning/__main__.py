"""``entryscan-provision``: the field technician's tool: a site, its devices, its broker and venue boards.

Exit status: 0 done, 1 a check failed (poster check), 2 usage, 78 refused (bad input, existing key or site).
No command prints or logs a private key; private files are created 0600 and never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from entryscan.device.errors import ConfigError

EX_OK, EX_FAIL, EX_REFUSED = 0, 1, 78
Handler = Callable[[argparse.Namespace], int]


def _add(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, handler: Handler,
         text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=text, description=text)
    parser.set_defaults(func=handler)
    return parser


def _site_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site-dir", type=Path, required=True, metavar="SITE_DIR")


def add_bundle_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bundle = _add(sub, "bundle", cmd_bundle, "key, CSR, config and ACL lines for one device of a site whose "
                                              "CA you run yourself (a site dir uses 'device add')")
    bundle.add_argument("--device", required=True, help="device id, e.g. door-1")
    bundle.add_argument("--site", required=True)
    bundle.add_argument("--door", required=True)
    bundle.add_argument("--broker", required=True, help="mqtts://HOST[:PORT]")
    bundle.add_argument("--prefix", default="entryscan", help="MQTT topic prefix")
    bundle.add_argument("--site-key", type=Path, required=True,
                        help="the site's pseudonym key file (created 0600 if missing; shared by the site's doors)")
    bundle.add_argument("--out", type=Path, required=True, help="new folder for the bundle")


def add_site_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    site = sub.add_parser("site", help="site CA, signing keys and manifest").add_subparsers(
        dest="site_command", required=True)
    init = _add(site, "init", cmd_site_init, "create a site: CA, pass-issuer, list-signer, venue-board and "
                                             "pseudonym keys (0600) and site.toml")
    init.add_argument("--site", required=True, metavar="ID")
    init.add_argument("--dir", type=Path, required=True, metavar="SITE_DIR")
    init.add_argument("--name", help="display name (default: the id)")
    init.add_argument("--prefix", default="entryscan", help="MQTT topic prefix")
    init.add_argument("--timezone", default="", metavar="AREA/CITY",
                      help="IANA time zone of the venues' opening hours, e.g. Asia/Ho_Chi_Minh "
                           "(default: none in the manifest; the collector's --timezone applies)")
    init.add_argument("--language", default="vi", choices=("vi", "en"),
                      help="default language of the site's office and venue pages (default: vi)")

    device = sub.add_parser("device", help="devices of the site").add_subparsers(dest="device_command",
                                                                                 required=True)
    add = _add(device, "add", cmd_device_add, "write a device bundle signed by the site CA and record the device")
    _site_dir(add)
    add.add_argument("--device", required=True, metavar="ID")
    add.add_argument("--door", required=True, metavar="DOOR")
    add.add_argument("--broker", required=True, metavar="mqtts://HOST:PORT")
    add.add_argument("--out", type=Path, required=True, metavar="DIR", help="new folder for the bundle")
    add.add_argument("--csr", type=Path, metavar="FILE", help="certify this request (from 'entryscan csr') "
                                                              "instead of making a key here")
    add.add_argument("--venue", default="", metavar="ID", help="the venue this door belongs to")
    add.add_argument("--policy", default="allowlist", help="[policy] mode of the door (default allowlist)")

    remove = _add(device, "remove", cmd_device_remove, "retire a device: out of the ACL, its certificate revoked "
                                                       "(then run broker again and reload mosquitto)")
    _site_dir(remove)
    remove.add_argument("--device", required=True, metavar="ID")
    remove.add_argument("--broker", metavar="mqtts://HOST:PORT",
                        help="also clear the door's retained Home Assistant discovery on this broker")
    remove.add_argument("--broker-dir", type=Path, metavar="DIR",
                        help="the folder `broker` wrote (its collector certificate clears the discovery)")

    broker = _add(sub, "broker", cmd_broker, "write a complete TLS mosquitto config with the ACL for every device")
    _site_dir(broker)
    broker.add_argument("--out", type=Path, required=True, metavar="DIR")
    broker.add_argument("--host", required=True, metavar="NAME", help="the broker's name as devices dial it")
    broker.add_argument("--port", type=int, default=8883)
    broker.add_argument("--bind", default="", metavar="ADDRESS", help="listen on this address only")
    broker.add_argument("--data-dir", type=Path, metavar="DIR", help="persistence folder (default OUT/data)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="entryscan-provision", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_bundle_parser(sub)
    add_site_parsers(sub)
    from entryscan.provisioning.venue_cli import add_venue_parsers

    add_venue_parsers(sub)
    return parser


def cmd_bundle(args: argparse.Namespace) -> int:
    from entryscan.provisioning.bundle import DeviceSpec, build_bundle

    spec = DeviceSpec(device=args.device, site=args.site, door=args.door, broker=args.broker, prefix=args.prefix)
    files = build_bundle(spec, args.site_key, args.out)
    _print_files(files)
    print("next: have the site CA sign device.csr into device.pem; copy the bundle to /etc/entryscan "
          "(0640 root:entryscan, keys 0600 entryscan); add mosquitto.acl to the broker's ACL file.", file=sys.stderr)
    return EX_OK


def cmd_site_init(args: argparse.Namespace) -> int:
    from entryscan.provisioning.site import init_site

    _print_files(init_site(args.dir, args.site, args.name or args.site, args.prefix, args.timezone, args.language))
    print(f"next: entryscan-provision device add --site-dir {args.dir} ... and broker --site-dir {args.dir} ...; "
          "keep ca.key, issuer.key, lists.key and venues.key offline.", file=sys.stderr)
    return EX_OK


def cmd_device_add(args: argparse.Namespace) -> int:
    from entryscan.provisioning.devices import DeviceRequest, add_device

    request = DeviceRequest(device=args.device, door=args.door, broker=args.broker, venue=args.venue,
                            policy=args.policy, csr=args.csr)
    _print_files(add_device(args.site_dir, request, args.out))
    print(f"next: entryscan-provision broker --site-dir {args.site_dir} --out BROKER_DIR --host HOST (ACL), "
          f"then on the Pi: sudo scripts/install-pi.sh {args.out}", file=sys.stderr)
    return EX_OK


def manifest_site(site_dir: Path, device: str) -> str:
    from entryscan.provisioning import manifest

    site = manifest.load(site_dir)
    if site.device(device) is None:
        raise ConfigError("--device", f"{device!r} is not a device of site {site.site}")
    return site.site


def cmd_device_remove(args: argparse.Namespace) -> int:
    from entryscan.provisioning.devices import remove_device

    if (args.broker is None) != (args.broker_dir is None):
        raise ConfigError("--broker", "--broker and --broker-dir go together")
    site = manifest_site(args.site_dir, args.device)
    cleared = []
    if args.broker is not None:  # first: a refusal leaves the door in the manifest, so the command can be rerun
        from entryscan.provisioning.forget import clear_discovery

        cleared = clear_discovery(args.broker, args.broker_dir, site, args.device)
    record = remove_device(args.site_dir, args.device)
    print(f"retired {record.id} (certificate serial {record.certificate_serial or 'unknown'})")
    for topic in cleared:
        print(f"cleared {topic}")
    if args.broker is None:
        print("Home Assistant keeps showing the door until its retained discovery is cleared: run this with "
              "--broker mqtts://HOST:PORT --broker-dir BROKER_DIR, or clear the topics by hand", file=sys.stderr)
    print(f"next: entryscan-provision broker --site-dir {args.site_dir} --out BROKER_DIR --host HOST, then reload "
          "mosquitto: the ACL drops the device and the CRL revokes its certificate", file=sys.stderr)
    return EX_OK


def cmd_broker(args: argparse.Namespace) -> int:
    from entryscan.provisioning.broker import write_broker

    files = write_broker(args.site_dir, args.out, args.host, args.port, args.bind, args.data_dir)
    _print_files(files)
    print(f"run: mosquitto -c {args.out.resolve() / 'mosquitto.conf'} (as root or as its owner; after adding "
          "devices: run this again and reload mosquitto with SIGHUP)", file=sys.stderr)
    return EX_OK


def _print_files(files: Sequence[Path]) -> None:
    for path in files:
        print(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (ConfigError, OSError) as exc:  # FileExistsError included: nothing is overwritten
        print(f"entryscan-provision: {exc}", file=sys.stderr)
        return EX_REFUSED


if __name__ == "__main__":
    sys.exit(main())
