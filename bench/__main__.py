"""Run every benchmark (each in its own process, as it runs alone) and print one table.

    uv run python -m bench [--quick] [NAME ...] [--markdown FILE]

NAME picks benches by the part after ``bench_`` (e.g. ``identity``); all of them by default.
``--quick`` passes ``--quick`` to each: tiny sizes that prove the bench still runs, not
figures to quote. Exits non-zero if any bench failed or reported nothing, after the table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._table import RESULTS_ENV, read, table

HERE = Path(__file__).resolve().parent


def benches() -> dict[str, Path]:
    """Every bench in this directory by short name (``bench_identity.py`` is ``identity``)."""
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def main() -> int:
    available = benches()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(available))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does each still run")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    chosen = args.names or list(available)
    unknown = set(chosen) - set(available)
    if unknown:
        parser.error(f"no such bench: {', '.join(sorted(unknown))}")

    failed: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.jsonl"
        env = {**os.environ, RESULTS_ENV: str(results)}
        for name in chosen:
            print(f"== bench/{available[name].name}", flush=True)
            before = len(read(results))
            started = time.monotonic()
            command = [sys.executable, str(available[name])] + (["--quick"] if args.quick else [])
            code = subprocess.run(command, env=env, check=False).returncode  # noqa: S603
            print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
            if code != 0 or len(read(results)) == before:
                failed.append(name)
        figures = read(results)

    machine = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"
    print(f"\n{'quick mode: sizes too small to quote; ' if args.quick else ''}{machine}\n")
    print(table(figures))
    if args.markdown:
        args.markdown.write_text(table(figures) + "\n")
    if failed:
        print(f"\nfailed or reported nothing: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
