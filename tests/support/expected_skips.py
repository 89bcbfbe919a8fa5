"""A pytest plugin that turns every skip into a failure unless the skip is expected.

A skipped test looks like a passing run: a missing PostgreSQL or Chromium once skipped whole
packages while ``make test`` still exited 0. Here a skip fails its test (or its module, for a
skip at collection) unless the allow-list names it, with the reason it may skip. The list is
a TOML file (the ``expected_skips`` ini option, relative to the root directory)::

    [[skip]]
    test = "tests/unit/foo/test_bar.py::test_on_windows_only"  # a node id; * and ? glob
    when = "only on Windows"  # optional: a part of the skip message that must match
    why = "the suite runs on Linux; the Windows path is covered by ..."

Expected failures (``xfail``) are not skips and are left alone.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

INI_NAME = "expected_skips"
DEFAULT_FILE = "tests/expected_skips.toml"
_KEY = pytest.StashKey["ExpectedSkips"]()


@dataclass(frozen=True)
class ExpectedSkip:
    test: str
    when: str | None
    why: str

    def matches(self, nodeid: str, message: str) -> bool:
        return fnmatch.fnmatchcase(nodeid, self.test) and (
            self.when is None or self.when in message
        )


@dataclass(frozen=True)
class ExpectedSkips:
    source: Path
    entries: tuple[ExpectedSkip, ...]

    @classmethod
    def load(cls, path: Path) -> ExpectedSkips:
        if not path.exists():
            return cls(path, ())
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise pytest.UsageError(f"{path}: {exc}") from exc
        entries = []
        for number, entry in enumerate(document.get("skip", []), start=1):
            test, why, when = entry.get("test"), entry.get("why"), entry.get("when")
            # A skip allowed without a stated reason is how a suite shrinks unnoticed.
            if not isinstance(test, str) or not test or not isinstance(why, str) or not why.strip():
                raise pytest.UsageError(
                    f"{path}: skip entry {number} needs a non-empty 'test' and 'why'"
                )
            if when is not None and not isinstance(when, str):
                raise pytest.UsageError(f"{path}: skip entry {number}: 'when' must be text")
            entries.append(ExpectedSkip(test, when, why.strip()))
        return cls(path, tuple(entries))

    def allows(self, nodeid: str, message: str) -> bool:
        return any(entry.matches(nodeid, message) for entry in self.entries)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_NAME,
        "TOML file listing the skips that may happen (any other skip fails)",
        default=DEFAULT_FILE,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = ExpectedSkips.load(config.rootpath / str(config.getini(INI_NAME)))


def _skip_message(longrepr: object) -> str:
    # A skip's longrepr is (path, line, "Skipped: reason").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _refuse(report: pytest.TestReport | pytest.CollectReport, config: pytest.Config) -> None:
    expected = config.stash[_KEY]
    message = _skip_message(report.longrepr)
    if expected.allows(report.nodeid, message):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"{report.nodeid} was skipped ({message}), and no skip is allowed unless "
        f"{expected.source} lists it with the reason it may skip. Provide what the test "
        "needs, or list it there."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        _refuse(report, item.config)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped:
        _refuse(report, collector.config)
    return report
