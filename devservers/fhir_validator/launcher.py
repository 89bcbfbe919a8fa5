"""HAPI FHIR's R4 instance validator from Maven Central jars, as one long-lived JVM.

The jars are resolved once with Maven (``pom.xml`` beside this file) into
``~/.cache/rapport/hapi-fhir-validator-8.8.1`` (or ``$RAPPORT_FHIR_VALIDATOR_JARS``), and
``RapportFhirValidator.java`` is compiled there with the JDK's ``javac``. A
:class:`FhirValidatorProcess` then validates one JSON resource per line over stdin/stdout, so
a test session pays the JVM's start-up (about 6 s here) once.

``python -m devservers.fhir_validator.launcher fetch`` pre-warms the cache (CI runs it).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "HAPI_VERSION",
    "FhirValidatorError",
    "FhirValidatorProcess",
    "ValidationIssue",
    "ensure_validator",
    "main",
]

HAPI_VERSION = "8.8.1"
DEFAULT_DIR = Path.home() / ".cache" / "rapport" / f"hapi-fhir-validator-{HAPI_VERSION}"
DIR_ENV_VAR = "RAPPORT_FHIR_VALIDATOR_JARS"

_HERE = Path(__file__).resolve().parent
_POM = _HERE / "pom.xml"
_MAIN = "RapportFhirValidator"
_SOURCE = _HERE / f"{_MAIN}.java"
# Written last: its absence means "fetch again". Names the source's digest, so an edited
# validator program is compiled anew.
_MARKER = ".rapport-fhir-validator-complete"
_DEPENDENCY_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
_FETCH_TIMEOUT_S = 900.0
_READY_TIMEOUT_S = 120.0
_ANSWER_TIMEOUT_S = 60.0


class FhirValidatorError(RuntimeError):
    """The validator could not be fetched, compiled or started, or stopped answering."""


@dataclass(frozen=True)
class ValidationIssue:
    """One issue of HAPI's OperationOutcome: severity, where, and what."""

    severity: str  # fatal | error | warning | information
    location: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")


def _source_stamp() -> str:
    digest = hashlib.sha256(_SOURCE.read_bytes() + _POM.read_bytes()).hexdigest()
    return f"hapi-fhir {HAPI_VERSION} {digest[:16]}\n"


def _target_dir(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser().resolve()
    env = os.environ.get(DIR_ENV_VAR)
    return Path(env).expanduser().resolve() if env else DEFAULT_DIR


def ensure_validator(cache_dir: Path | None = None) -> Path:
    """A directory with the validator's jars (``jars/``) and compiled program (``classes/``).

    Fetched and compiled once into a temporary sibling that is renamed into place, so an
    interrupted fetch never looks complete; concurrent callers serialise on a lock file.

    Raises:
        FhirValidatorError: Maven or javac is missing, or the fetch or compile failed.
    """
    target = _target_dir(cache_dir)
    stamp = _source_stamp()
    marker = target / _MARKER
    if marker.is_file() and marker.read_text() == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == stamp:
            return target
        _fetch(target, stamp)
    return target


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FhirValidatorError(f"'{name}' is not on PATH; it is needed to build the validator")
    return found


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_FETCH_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-40:]
        raise FhirValidatorError(f"{what} failed ({result.returncode}):\n" + "\n".join(tail))


def _fetch(target: Path, stamp: str) -> None:
    mvn, javac = _tool("mvn"), _tool("javac")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.fetch-", dir=target.parent))
    try:
        built = staging / "validator"
        work = staging / "work"
        work.mkdir()
        shutil.copy2(_POM, work / "pom.xml")
        jars = built / "jars"
        _run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(work / "pom.xml"),
                _DEPENDENCY_GOAL,
                f"-DoutputDirectory={jars}",
                "-DincludeScope=runtime",
            ],
            work,
            "Maven fetching the HAPI FHIR validator",
        )
        classes = built / "classes"
        _run(
            [javac, "-cp", f"{jars}/*", "-d", str(classes), str(_SOURCE)],
            work,
            "javac compiling the validator",
        )
        (built / _MARKER).write_text(stamp)
        if target.exists():
            shutil.rmtree(target)
        os.rename(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return _tool("java")


def _issues(outcome: dict[str, Any]) -> list[ValidationIssue]:
    return [
        ValidationIssue(
            severity=issue.get("severity", "error"),
            location=", ".join(issue.get("expression") or issue.get("location") or []),
            message=issue.get("diagnostics", ""),
        )
        for issue in outcome.get("issue", [])
    ]


class FhirValidatorProcess:
    """One validator JVM; :meth:`validate` may be called from any thread, one at a time."""

    def __init__(self, home: Path) -> None:
        self._home = home
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def start(self) -> FhirValidatorProcess:
        """Start the JVM and wait until it has loaded the R4 core profiles."""
        classpath = f"{self._home / 'classes'}:{self._home / 'jars'}/*"
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            # C1 only: the JIT's second tier would cost more CPU than it saves in a test run.
            [_java(), "-XX:TieredStopAtLevel=1", "-Xmx768m", "-cp", classpath, _MAIN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        line = self._read_line(_READY_TIMEOUT_S)
        if line != "ready":
            self.stop()
            raise FhirValidatorError(f"the validator did not start (said {line!r})")
        return self

    def validate(self, resource: dict[str, Any] | str) -> list[ValidationIssue]:
        """Every issue HAPI finds in ``resource`` (a resource or Bundle) against FHIR R4."""
        text = resource if isinstance(resource, str) else json.dumps(resource)
        # One resource per line: JSON's own escaping keeps newlines out of the document.
        text = json.dumps(json.loads(text), separators=(",", ":"))
        with self._lock:
            proc = self._running()
            assert proc.stdin is not None
            proc.stdin.write(text + "\n")
            proc.stdin.flush()
            answer = self._read_line(_ANSWER_TIMEOUT_S)
        return _issues(json.loads(answer))

    def stop(self) -> None:
        """End the JVM (closing stdin ends its loop)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _running(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            raise FhirValidatorError("the validator process is not running")
        return self._proc

    def _read_line(self, timeout: float) -> str:
        proc = self._running()
        assert proc.stdout is not None
        stdout = proc.stdout
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not box:
            self.stop()
            raise FhirValidatorError(f"the validator gave no answer within {timeout:.0f}s")
        if not box[0]:
            raise FhirValidatorError("the validator exited")
        return box[0].strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``fetch`` the jars and compile the validator, or ``validate`` files."""
    parser = argparse.ArgumentParser(prog="python -m devservers.fhir_validator.launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch and compile the validator into the cache and exit")
    check = sub.add_parser("validate", help="validate FHIR R4 JSON files, print the issues")
    check.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        home = ensure_validator()
        if args.command == "fetch":
            print(home)
            return 0
        validator = FhirValidatorProcess(home).start()
        errors = 0
        try:
            for path in args.files:
                for issue in validator.validate(path.read_text()):
                    errors += issue.is_error
                    print(f"{path}: {issue.severity}: {issue.location}: {issue.message}")
        finally:
            validator.stop()
        return 1 if errors else 0
    except FhirValidatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
