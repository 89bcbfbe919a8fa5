"""``python -m deploy.supply_chain`` (``make audit``): audit the locked dependencies.

Python: pip-audit over ``uv export`` of uv.lock (every locked package, dev tools included), with
PyPI's vulnerability data (pip-audit's default ``pypi`` service). Web: ``npm audit`` of
web/package-lock.json (the npm registry's advisory endpoint). A finding fails unless
deploy/audit-allowlist.toml lists its id with a reason. A package that could not be audited (the
service unreachable, or it knows nothing of the version) fails too: an audit that skipped
something proves nothing, so it never passes quietly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST_PATH = ROOT / "deploy" / "audit-allowlist.toml"


@dataclass(frozen=True)
class Finding:
    """A known vulnerability of a locked package."""

    ecosystem: str  # "pypi" or "npm"
    package: str
    version: str
    ids: tuple[str, ...]  # the advisory's id and its aliases (CVE, GHSA, PYSEC)


@dataclass(frozen=True)
class Audit:
    """What one audit found, and what it could not look at."""

    findings: list[Finding]
    unaudited: list[str]  # "package version: why"


def load_allowlist(path: Path = ALLOWLIST_PATH) -> dict[str, str]:
    """Allowed advisory ids and each one's reason; ValueError for an entry without a reason."""
    entries = tomllib.loads(path.read_text())["finding"] if path.exists() else []
    allowed: dict[str, str] = {}
    for entry in entries:
        reason = str(entry.get("reason", "")).strip()
        if not entry.get("id") or len(reason) < 10:
            raise ValueError(f"{path.name}: every finding needs an id and a reason: {entry}")
        allowed[str(entry["id"])] = reason
    return allowed


def failures(audits: list[Audit], allowed: dict[str, str]) -> list[str]:
    """Why the audit fails: findings not allowed, packages not audited; empty when it passes."""
    problems = [f"not audited: {line}" for audit in audits for line in audit.unaudited]
    for audit in audits:
        for finding in audit.findings:
            if not set(finding.ids) & allowed.keys():
                problems.append(
                    f"{finding.ecosystem} {finding.package} {finding.version}: "
                    f"{', '.join(finding.ids)} (fix it, or list it in {ALLOWLIST_PATH.name})"
                )
    return problems


def parse_pip_audit(report: dict[str, Any]) -> Audit:
    """pip-audit's ``--format json`` report."""
    findings, unaudited = [], []
    for dependency in report.get("dependencies", []):
        name, version = dependency["name"], dependency.get("version", "")
        if "skip_reason" in dependency:
            unaudited.append(f"{name}: {dependency['skip_reason']}")
        for vuln in dependency.get("vulns", []):
            ids = (vuln["id"], *vuln.get("aliases", []))
            findings.append(Finding("pypi", name, version, ids))
    return Audit(findings, unaudited)


def parse_npm_audit(report: dict[str, Any]) -> Audit:
    """``npm audit --json`` (lockfile v2/v3 report); an ``error`` report audits nothing."""
    if "vulnerabilities" not in report:
        error = report.get("error")
        summary = error.get("summary") if isinstance(error, dict) else None
        why = report.get("message") or summary or json.dumps(report)[:300]
        return Audit([], [f"web/package-lock.json: npm audit failed: {why}"])
    findings = []
    for name, entry in report.get("vulnerabilities", {}).items():
        ids = tuple(
            str(via.get("url") or via.get("source"))
            for via in entry.get("via", [])
            if isinstance(via, dict)
        )
        if ids:
            findings.append(Finding("npm", name, str(entry.get("range", "?")), ids))
    return Audit(findings, [])


def audit_python() -> Audit:
    requirements = subprocess.run(  # noqa: S603 - fixed argv (uv from PATH), no shell
        [  # noqa: S607
            "uv",
            "export",
            "--frozen",
            "--format",
            "requirements-txt",
            "--no-hashes",
            "--no-emit-project",
            "--all-groups",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as file:
        file.write(requirements)
        file.flush()
        run = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [
                sys.executable,
                "-m",
                "pip_audit",
                "--requirement",
                file.name,
                "--disable-pip",
                "--no-deps",
                "--format",
                "json",
                "--progress-spinner",
                "off",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    try:
        return parse_pip_audit(json.loads(run.stdout))
    except json.JSONDecodeError:
        return Audit(
            [], [f"uv.lock: pip-audit failed (exit {run.returncode}): {run.stderr[-500:]}"]
        )


def audit_web() -> Audit:
    run = subprocess.run(  # noqa: S603 - fixed argv (npm from PATH), no shell
        ["npm", "audit", "--json", "--package-lock-only"],  # noqa: S607
        cwd=ROOT / "web",
        capture_output=True,
        text=True,
    )
    try:
        return parse_npm_audit(json.loads(run.stdout))
    except json.JSONDecodeError:
        return Audit([], [f"web: npm audit failed (exit {run.returncode}): {run.stderr[-500:]}"])


def main() -> int:
    audits = [audit_python(), audit_web()]
    problems = failures(audits, load_allowlist())
    for problem in problems:
        print(problem, file=sys.stderr)
    found = sum(len(audit.findings) for audit in audits)
    print(f"supply chain: {found} finding(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
