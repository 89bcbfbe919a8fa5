"""The import contracts: services never import each other; shared/ imports no service;
inside a service every module has a layer and dependencies point inward; sub-domain packages
use one another only through their public names.

The contracts live in pyproject.toml ([tool.importlinter]); this test runs them on the real
tree, and shows on a deliberately broken tree that they do fail. The sub-domain rule is one
import-linter cannot say (a sibling package itself may be imported, its modules may not), so
it is checked here on the same import graph.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SERVICES = ["identity", "records", "signaling", "webhooks", "notifications"]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_hold_on_the_real_tree() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert f"Contracts: {len(contracts['contracts'])} kept, 0 broken" in result.stdout


def _containers() -> list[str]:
    """The packages the layers contract looks inside (each must exist for it to run)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return [c for contract in contracts for c in contract.get("containers", [])]


def _skeleton(tmp_path: Path) -> Path:
    packages = ["shared", "gateway", "services"]
    packages += [c.replace(".", "/") for c in _containers()]
    for package in packages:
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_a_service_importing_another_service_breaks_the_contract(tmp_path: Path) -> None:
    root = _skeleton(tmp_path)
    (root / "services/records/service.py").write_text("import services.identity\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "Services never import each other BROKEN" in result.stdout


def test_shared_importing_a_service_breaks_the_contract(tmp_path: Path) -> None:
    root = _skeleton(tmp_path)
    (root / "shared/events.py").write_text("import services.signaling\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "shared/ imports no service and not the gateway BROKEN" in result.stdout


INWARD_BROKEN = "Inside a service, dependencies point inward BROKEN"


def _lint_skeleton_with(tmp_path: Path, files: dict[str, str]) -> str:
    """lint-imports' report on the skeleton plus ``files``; it must have failed."""
    root = _skeleton(tmp_path)
    for path, text in files.items():
        (root / path).write_text(text)
    result = _lint_imports(root)
    assert result.returncode != 0, result.stdout
    return result.stdout


def test_a_service_module_in_no_layer_breaks_the_contract(tmp_path: Path) -> None:
    report = _lint_skeleton_with(tmp_path, {"services/webhooks/stray.py": ""})
    assert INWARD_BROKEN in report
    assert "services.webhooks.stray" in report


@pytest.mark.parametrize(
    ("module", "imports"),
    [
        # Each of these once stood outside every layer, so nothing checked its imports.
        ("services/signaling/room.py", "services.signaling.service"),
        ("services/webhooks/repository.py", "services.webhooks.dispatcher"),
        ("services/identity/repository.py", "services.identity.directory"),
        ("services/records/service.py", "services.records.timers"),
    ],
)
def test_an_import_pointing_outward_breaks_the_contract(
    tmp_path: Path, module: str, imports: str
) -> None:
    files = {module: f"import {imports}\n", imports.replace(".", "/") + ".py": ""}
    assert INWARD_BROKEN in _lint_skeleton_with(tmp_path, files)


def _subdomain_leaks(root: Path) -> list[str]:
    """Imports from inside one package of a service into a module of a sibling package.

    A sibling package itself (``from services.records.goals import propose_goal``) is its
    public face; its modules (``services.records.goals.repository``) are its internals.
    Run in a child process, like lint-imports, so the graph is that of ``root``'s tree and
    not of the ``services`` this test process has imported.
    """
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, __file__, *SERVICES],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return sorted(json.loads(result.stdout))


def _leaks_in_this_process(services: list[str]) -> list[str]:
    graph = grimp.build_graph("services", cache_dir=None)
    leaks = []
    for service in services:
        container = f"services.{service}"
        packages = [c for c in graph.find_children(container) if graph.find_children(c)]
        for package in packages:
            siblings = [p for p in packages if p != package]
            for importer in {package, *graph.find_descendants(package)}:
                for imported in graph.find_modules_directly_imported_by(importer):
                    if any(imported.startswith(f"{s}.") for s in siblings):
                        leaks.append(f"{importer} -> {imported}")
    return leaks


def test_no_package_of_a_service_imports_a_siblings_internals() -> None:
    assert _subdomain_leaks(ROOT) == []


def test_a_sub_domain_importing_a_siblings_module_is_caught(tmp_path: Path) -> None:
    root = _skeleton(tmp_path)
    for package in ["services/records/goals", "services/records/sessions"]:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "services/records/goals/repository.py").write_text("")
    (root / "services/records/sessions/service.py").write_text(
        "import services.records.goals\nimport services.records.goals.repository\n"
    )
    assert _subdomain_leaks(root) == [
        "services.records.sessions.service -> services.records.goals.repository"
    ]


if __name__ == "__main__":
    print(json.dumps(_leaks_in_this_process(sys.argv[1:])))
