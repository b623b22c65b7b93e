"""``python -m bench [--quick] [NAME ...]``: run the benchmarks, one JSON object per line on stdout.

Each bench runs in its own subprocess so import costs, RSS and decoder state never leak from one
to the next; progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time

from bench.common import Mode, emit

BENCHES = ("decode", "robustness", "filescan", "verify", "latency", "journal", "idle", "footprint", "collector",
           "outputs_off")
# Run only when named (minutes to hours, not part of ``--quick`` or the default run): the office's pages on a
# large PostgreSQL fleet (main's code beside this one), and mutation testing.
ON_REQUEST = ("office", "mutation")


def run_one(name: str, mode: Mode) -> None:
    module = importlib.import_module(f"bench.{name}")
    module.main(mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small, fast run that proves the suite works")
    parser.add_argument("--inline", action="store_true", help=argparse.SUPPRESS)  # used by the runner
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of: {' '.join(BENCHES)} (default: all); on request: {' '.join(ON_REQUEST)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHES) - set(ON_REQUEST))
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; choose from {', '.join(BENCHES + ON_REQUEST)}")
    names = args.names or list(BENCHES)
    mode = Mode(quick=args.quick)
    if args.inline:
        for name in names:
            run_one(name, mode)
        return 0
    failed = 0
    for name in names:
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "bench", "--inline", *(["--quick"] if args.quick else []), name]
        rc = subprocess.run(cmd, check=False).returncode
        elapsed = time.monotonic() - t0
        print(f"bench {name}: exit {rc} after {elapsed:.1f} s", file=sys.stderr, flush=True)
        if rc != 0:
            failed += 1
            emit(name, "error", rc, "exit_code")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
