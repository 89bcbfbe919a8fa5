"""The suite cannot shrink unnoticed: a skip fails the run unless the allow-list names it.

Each case runs pytest on a small test directory with the plugin loaded, as the suite does.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("no PostgreSQL here")

@pytest.fixture
def chromium():
    pytest.skip("Chromium is not installed")

def test_needs_chromium(chromium):
    pass

@pytest.mark.skipif(True, reason="never on this machine")
def test_marked():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["tests.support.expected_skips"]')
    pytester.makeini(
        "[pytest]\nexpected_skips = skips.toml\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def test_every_kind_of_skip_fails_the_run(project: pytest.Pytester) -> None:
    project.makepyfile(test_things=SKIPPING)

    result = project.runpytest_inprocess("-q")

    # A skip in the test body fails it; a skip in setup (a fixture, a skipif) is an error.
    result.assert_outcomes(passed=1, failed=1, errors=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*test_skips was skipped (Skipped: no PostgreSQL here)*"])


def test_a_skip_at_collection_fails_the_run(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_optional="""
        import pytest
        pytest.importorskip("a_module_that_is_not_installed")

        def test_never_collected():
            pass
        """
    )

    result = project.runpytest_inprocess("-q")

    # A collection error stops the run before any test.
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_optional.py was skipped*a_module_that_is_not_installed*"])


def test_listed_skips_are_allowed_and_only_those(project: pytest.Pytester) -> None:
    project.makepyfile(test_things=SKIPPING)
    project.path.joinpath("skips.toml").write_text(
        """
        [[skip]]
        test = "test_things.py::test_skips"
        why = "shown as allowed"

        [[skip]]
        test = "test_things.py::test_*"
        when = "never on this machine"
        why = "matched by glob and message"

        [[skip]]
        test = "test_things.py::test_needs_chromium"
        when = "a different message"
        why = "the message does not match, so this one still fails"
        """
    )

    result = project.runpytest_inprocess("-q", "-rs")

    result.assert_outcomes(passed=1, skipped=2, errors=1)
    result.stdout.fnmatch_lines(["*test_things.py::test_needs_chromium was skipped*"])


def test_an_entry_without_a_reason_is_refused(project: pytest.Pytester) -> None:
    project.makepyfile(test_things=SKIPPING)
    project.path.joinpath("skips.toml").write_text('[[skip]]\ntest = "test_things.py::*"\n')

    result = project.runpytest_inprocess("-q")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*skip entry 1 needs a non-empty 'test' and 'why'*"])


def test_expected_failures_are_not_skips(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_known="""
        import pytest

        @pytest.mark.xfail(reason="known bug", strict=True)
        def test_known_bug():
            assert False
        """
    )

    result = project.runpytest_inprocess("-q")

    result.assert_outcomes(xfailed=1)
    assert result.ret == pytest.ExitCode.OK
