"""kustomize for the deploy tests: built once from its Go module and cached, like the Kafka jars.

The tests render deploy/kubernetes/overlays/ with the real kustomize (what ``kubectl apply -k``
embeds) and validate what it outputs. ``python -m devservers.kustomize fetch`` (run by
``make test`` and .ci/run) builds it with ``go install`` from the Go module proxy into
``~/.cache/rapport/kustomize-<version>/``; the tests only look it up, they never fetch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

KUSTOMIZE_VERSION = "v5.7.1"
MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
#: Where the binary is kept unless ``$RAPPORT_KUSTOMIZE`` names one.
DEFAULT_DIR = Path.home() / ".cache" / "rapport" / f"kustomize-{KUSTOMIZE_VERSION}"
ENV_VAR = "RAPPORT_KUSTOMIZE"
_GO_TIMEOUT_S = 900.0


class KustomizeMissing(RuntimeError):
    """No kustomize binary where the tests look for it."""


def binary() -> Path:
    """The kustomize binary, or :class:`KustomizeMissing` saying how to get it."""
    path = Path(os.environ.get(ENV_VAR) or DEFAULT_DIR / "kustomize")
    if not os.access(path, os.X_OK):
        raise KustomizeMissing(
            f"no kustomize at {path}: run `uv run python -m devservers.kustomize fetch`"
        )
    return path


def fetch() -> Path:
    """Build kustomize with ``go install`` unless it is already there; return its path."""
    target = DEFAULT_DIR / "kustomize"
    if os.access(target, os.X_OK):
        return target
    # The official toolchain's place, for a shell whose PATH does not name it.
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        raise KustomizeMissing("go is needed to build kustomize (the Go toolchain)")
    DEFAULT_DIR.parent.mkdir(parents=True, exist_ok=True)
    # Built into a temporary sibling and moved into place: an interrupted build leaves nothing
    # that looks finished.
    with tempfile.TemporaryDirectory(dir=DEFAULT_DIR.parent) as scratch:
        env = {**os.environ, "GOBIN": scratch, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
        subprocess.run(  # noqa: S603 (go from PATH, a fixed module and version)
            [go, "install", f"{MODULE}@{KUSTOMIZE_VERSION}"],
            env=env,
            check=True,
            timeout=_GO_TIMEOUT_S,
        )
        DEFAULT_DIR.mkdir(exist_ok=True)
        os.replace(Path(scratch) / "kustomize", target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devservers.kustomize", description=__doc__)
    parser.add_argument("command", choices=["fetch"])
    parser.parse_args(argv)
    try:
        print(fetch())
    except (KustomizeMissing, subprocess.CalledProcessError) as error:
        print(f"kustomize: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
