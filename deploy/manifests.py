"""``python -m deploy.manifests [--check]``: render (or check) the deployment files from one source.

From :mod:`deploy.topology` and the services' settings classes this writes docker-compose.yml
and deploy/postgres-init.sql (:mod:`deploy.compose`), the Kubernetes manifests under
deploy/kubernetes/ (:mod:`deploy.kubernetes_manifests`) and the README's configuration
reference (:mod:`deploy.reference`). ``--check`` exits 1 and names the files that differ from
what would be written, so compose, Kubernetes, the README and the settings classes cannot
drift apart.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from deploy import compose, kubernetes_manifests, reference
from deploy.kubernetes_manifests import KUBERNETES
from deploy.topology import GENERATED

ROOT = Path(__file__).resolve().parent.parent
README = Path("README.md")

# Rendering --------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order written, long strings unwrapped."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Lists indented under their key, as kubectl and most manifests write them.
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # A label map used twice is written twice: manifests are read by people, not anchors.
        return True


def dump(documents: list[dict[str, Any]], header: str = "") -> str:
    body = "---\n".join(
        yaml.dump(d, Dumper=_Dumper, sort_keys=False, width=100_000) for d in documents
    )
    return header + body


def rendered() -> dict[Path, str]:
    """Every generated file (relative to the repository root) and its content."""
    header = f"# {GENERATED}\n"
    files = {
        path: dump(documents, header)
        for path, documents in kubernetes_manifests.kubernetes_files().items()
    }
    files.update(kubernetes_manifests.secret_examples())
    files[Path("docker-compose.yml")] = dump([compose.compose()], compose.HEADER)
    files[Path("deploy/postgres-init.sql")] = compose.postgres_init()
    files[README] = reference.readme_with_reference((ROOT / README).read_text(encoding="utf-8"))
    return files


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files whose committed content differs from what would be written."""
    return [
        path
        for path, content in rendered().items()
        if not (root / path).exists() or (root / path).read_text(encoding="utf-8") != content
    ]


def orphans(root: Path = ROOT) -> Iterator[Path]:
    """Manifests under deploy/kubernetes/ that nothing renders any more."""
    expected = set(rendered())
    for path in (root / KUBERNETES).rglob("*.yaml"):
        if path.relative_to(root) not in expected:
            yield path.relative_to(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.manifests", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a file is stale")
    arguments = parser.parse_args(argv)
    if arguments.check:
        problems = [f"{p} is stale" for p in stale()] + [
            f"{p} is rendered by nothing" for p in orphans()
        ]
        for problem in problems:
            print(f"{problem}: run python -m deploy.manifests", file=sys.stderr)
        return 1 if problems else 0
    for path, content in rendered().items():
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text(content, encoding="utf-8")
    # Never deleted here: a file nothing renders may be someone's own; --check names it.
    for path in orphans():
        print(f"{path} is rendered by nothing: remove it if it is not yours", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
