"""The dependency audit's gate (deploy/supply_chain.py), on recorded report shapes: a finding
not allowed fails, an allowed one passes, and a package that could not be audited fails (an
audit that skipped something must not pass). The audit itself, against the live services, is
``make audit``."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.supply_chain import (
    ROOT,
    Audit,
    failures,
    load_allowlist,
    parse_npm_audit,
    parse_pip_audit,
)

PIP_AUDIT = {
    "dependencies": [
        {
            "name": "jinja2",
            "version": "3.1.2",
            "vulns": [
                {
                    "id": "GHSA-h5c8-rqwp-cp95",
                    "aliases": ["CVE-2024-22195"],
                    "fix_versions": ["3.1.3"],
                }
            ],
        },
        {"name": "httpx", "version": "0.28.1", "vulns": []},
        {"name": "wrapt", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ]
}
NPM_AUDIT = {
    "vulnerabilities": {
        "chart.js": {
            "range": "<4.0.0",
            "via": [{"source": 1096, "url": "https://github.com/advisories/GHSA-xxxx-xxxx-xxxx"}],
        },
        # A package vulnerable only through another: the other one carries the advisory.
        "chartjs-plugin-annotation": {"range": "*", "via": ["chart.js"]},
    }
}
NPM_UNREACHABLE = {
    "message": "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
    "error": {"summary": "", "detail": ""},
}


def test_a_finding_fails_unless_allowed_and_a_skipped_package_always_fails() -> None:
    python = parse_pip_audit(PIP_AUDIT)
    assert [(f.package, f.ids) for f in python.findings] == [
        ("jinja2", ("GHSA-h5c8-rqwp-cp95", "CVE-2024-22195"))
    ]
    problems = failures([python], {})
    assert len(problems) == 2
    assert any("jinja2 3.1.2" in p for p in problems)
    assert any(p.startswith("not audited: wrapt") for p in problems)
    # Allowed by any of its ids; the skipped package still fails.
    skipped = [p for p in problems if p.startswith("not audited")]
    assert failures([python], {"CVE-2024-22195": "not reachable: no templates from users"}) == (
        skipped
    )


def test_npm_findings_and_an_unreachable_npm_audit() -> None:
    web = parse_npm_audit(NPM_AUDIT)
    assert [(f.package, f.ids) for f in web.findings] == [
        ("chart.js", ("https://github.com/advisories/GHSA-xxxx-xxxx-xxxx",))
    ]
    unreachable = parse_npm_audit(NPM_UNREACHABLE)
    assert unreachable.findings == []
    assert failures([unreachable], {}) == [
        "not audited: web/package-lock.json: npm audit failed: " + NPM_UNREACHABLE["message"]
    ]
    assert failures([Audit([], [])], {}) == []


def test_every_allowed_finding_has_a_reason(tmp_path: Path) -> None:
    load_allowlist()  # the repository's own list parses
    bare = tmp_path / "allow.toml"
    bare.write_text('[[finding]]\nid = "CVE-2024-1"\n')
    with pytest.raises(ValueError, match="reason"):
        load_allowlist(bare)


def test_make_offers_the_audit() -> None:
    assert "\naudit:" in (ROOT / "Makefile").read_text()
