"""The command line of a generator that writes one committed file: write it, or with
``--check`` exit 1 when the stored copy differs from what the code generates now.

``deploy.openapi`` and ``deploy.asyncapi`` share it; the drift tests call ``--check``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def is_stale(path: Path, generate: Callable[[], str]) -> bool:
    """True when ``path`` does not hold what ``generate`` returns now."""
    return not path.exists() or path.read_text(encoding="utf-8") != generate()


def write_or_check(
    module: str, path: Path, generate: Callable[[], str], argv: list[str] | None, doc: str | None
) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    arguments = parser.parse_args(argv)
    if arguments.check:
        if is_stale(path, generate):
            print(f"{path} is stale: run python -m {module}", file=sys.stderr)
            return 1
        return 0
    path.write_text(generate(), encoding="utf-8")
    return 0
