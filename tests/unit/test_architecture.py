"""The import contracts: services never import each other; shared/ imports no service.

The contracts live in pyproject.toml ([tool.importlinter]); this test runs them on the real
tree, and shows on a deliberately broken tree that they do fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


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
    assert "Contracts: 3 kept, 0 broken" in result.stdout


def _skeleton(tmp_path: Path) -> Path:
    for package in [
        "shared",
        "gateway",
        "services",
        "services/identity",
        "services/records",
        "services/signaling",
        "services/webhooks",
    ]:
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
