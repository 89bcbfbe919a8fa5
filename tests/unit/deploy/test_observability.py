"""deploy/observability: the alert rules and the Grafana dashboard are valid PromQL that fire
when they should (promtool), and every metric they read is one the services serve."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deploy import topology
from deploy.openapi import _logging_left_alone

OBSERVABILITY = Path(__file__).resolve().parents[3] / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yaml"
DASHBOARD = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text(encoding="utf-8"))
METRIC_NAME = re.compile(r"\brapport_[a-z0-9_]+\b")
# Grafana's variables, replaced by what they stand for so promtool can parse the queries.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$service": ".*"}


def promtool(*argv: str, cwd: Path = OBSERVABILITY) -> str:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: install Debian's prometheus package (.ci/run does)"
    result = subprocess.run(
        [binary, *argv], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_panels() -> list[dict[str, Any]]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]


def test_the_alert_rules_are_valid() -> None:
    assert "SUCCESS" in promtool("check", "rules", ALERTS.name)


def test_each_alert_fires_on_its_condition_and_not_before() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yaml")


def test_the_alerts_the_operators_asked_for_exist() -> None:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {
        "RapportOutboxStalled",
        "RapportConsumerLagHigh",
        "RapportDeadLettersGrowing",
        "RapportWebhookEndpointFailing",
    } <= names


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses rule files only: each query becomes a recording rule.
    rules = []
    for number, expression in enumerate(dashboard_expressions()):
        for variable, value in GRAFANA_VARIABLES.items():
            expression = expression.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": expression})
    (tmp_path / "dashboard.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    assert "SUCCESS" in promtool("check", "rules", "dashboard.rules.yaml", cwd=tmp_path)


def test_the_dashboard_is_well_formed() -> None:
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard_panels():
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def served_metric_names(text: str) -> set[str]:
    """Every sample name the exposition ``text`` can hold, from its TYPE lines."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind == "counter":
                names |= {name.removesuffix("_total"), name.removesuffix("_total") + "_total"}
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What every process serves on /metrics (no lifespan: nothing connects)."""
    root = tmp_path_factory.mktemp("metrics")

    def database(name: str) -> str:
        return f"sqlite+aiosqlite:///{root / name}.db"

    with _logging_left_alone():
        apps = []
        for service in topology.SERVICES:
            app_module = importlib.import_module(f"{service.package}.app")
            overrides = {"database_url": database(service.name)} if service.has_database else {}
            settings = service.settings()(environment="development", **overrides)
            apps.append(app_module.create_app(settings))

    async def scrape() -> set[str]:
        names: set[str] = set()
        for app in apps:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
                response = await http.get("/metrics")
                assert response.status_code == 200
                names |= served_metric_names(response.text)
        return names

    return asyncio.run(scrape())


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_referenced_is_served(source: str, served: set[str]) -> None:
    expressions = alert_expressions() if source == "alerts" else dashboard_expressions()
    referenced = {name for e in expressions for name in METRIC_NAME.findall(e)}
    assert referenced
    assert not referenced - served, f"not served by any process: {referenced - served}"
