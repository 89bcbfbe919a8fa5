"""Run a real Apache Kafka broker (KRaft mode) from Maven Central jars, without Docker.

The broker jars are resolved once with Maven (see ``pom.xml`` beside this file) and cached;
each node is then a plain ``java ... kafka.Kafka server.properties`` process that this module
formats, starts, health-checks with aiokafka and stops again.

Used three ways:

* by the pytest fixtures in ``tests/fixtures/kafka.py`` (``KafkaCluster`` as a context manager),
* by ``make run`` through honcho (``deploy/Procfile``):
  ``python -m devservers.kafka.launcher run --port 19092 --data-dir var/kafka``,
* by hand: ``python -m devservers.kafka.launcher fetch`` pre-warms the jar cache.

Node ``i`` (0-based index) of a cluster has ``node.id = i + 1``. With ``base_port`` given, node
``i`` listens for clients on ``base_port + 2*i`` and for the controller quorum on
``base_port + 2*i + 1`` (so ``--port 9092`` gives the usual 9092/9093 for one node).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from devservers.local_servers import LocalServer, free_ports, log_tail, run_until_signal

__all__ = [
    "DEFAULT_JARS_DIR",
    "KAFKA_VERSION",
    "KafkaCluster",
    "KafkaStartError",
    "ensure_jars",
    "main",
    "new_cluster_id",
]

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.4.0"
#: Where jars are cached unless ``$RAPPORT_KAFKA_JARS`` or an explicit path says otherwise.
DEFAULT_JARS_DIR = Path.home() / ".cache" / "rapport" / f"kafka-{KAFKA_VERSION}"
JARS_ENV_VAR = "RAPPORT_KAFKA_JARS"

_HERE = Path(__file__).resolve().parent
_POM = _HERE / "pom.xml"
_LOG4J_CONFIG = _HERE / "log4j2.properties"

# Written into the jar directory only once every jar is there; its absence means "fetch".
_MARKER = ".rapport-kafka-complete"
# Jars that must be present for the broker to start and to log; checked after each fetch.
_REQUIRED_JARS = (f"kafka_2.13-{KAFKA_VERSION}.jar", "log4j-slf4j-impl-")
_DEPENDENCY_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
_MVN_TIMEOUT_S = 900.0

_READY_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 30.0
_POLL_INTERVAL_S = 0.2
_LOG_TAIL_LINES = 40

# C1-only JIT. Measured on the 2-core dev box: a 3-node cluster is ready in ~5 s instead of
# ~9 s (three JVMs' C2 compilers fight over two cores), and a short produce/consume burst
# even costs the broker less CPU, because C2 compiling is itself the cost. A long-running
# load test can undo it with jvm_options=["-XX:TieredStopAtLevel=4"] (the last flag wins).
_QUICK_JIT = ("-XX:TieredStopAtLevel=1",)

# Linux-only hooks for the child JVMs (see _child_setup). Loaded in the parent, before any
# fork, so the child only makes two plain C calls.
_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.prctl.argtypes = [
            ctypes.c_int,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
        ]
        _libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        _libc.signal.restype = ctypes.c_void_p
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        _libc = None


class KafkaStartError(RuntimeError):
    """A broker could not be fetched, formatted or started, or never became ready."""


# --------------------------------------------------------------------------------------------
# Jars
# --------------------------------------------------------------------------------------------


def ensure_jars(cache_dir: Path | None = None) -> Path:
    """Return a directory holding every jar the Kafka broker needs, fetching it once.

    The directory is ``cache_dir`` if given, else ``$RAPPORT_KAFKA_JARS``, else
    ``~/.cache/rapport/kafka-4.4.0``. It counts as complete only when it holds a marker
    file, which is written after a successful Maven fetch into a temporary sibling directory
    that is then renamed into place, so an interrupted fetch never looks complete. Concurrent
    callers (two pytest runs, ``make run`` plus tests) serialise on a lock file.

    Raises:
        KafkaStartError: Maven is missing or the fetch failed.
    """
    target = _jars_dir(cache_dir)
    if (target / _MARKER).is_file():
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with lock_path.open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            # Another process may have finished the fetch while we waited for the lock.
            if (target / _MARKER).is_file():
                return target
            _fetch_jars(target)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return target


def _jars_dir(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser().resolve()
    env = os.environ.get(JARS_ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return DEFAULT_JARS_DIR


def _fetch_jars(target: Path) -> None:
    """Fetch into a temporary sibling of ``target`` and rename it into place (lock held)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaStartError(
            "Maven ('mvn') is not on PATH; it is needed once to fetch the Kafka jars "
            f"into {target} (or set ${JARS_ENV_VAR} to a directory fetched elsewhere)."
        )
    if target.exists() and any(target.iterdir()):
        # Our fetches only ever appear by rename, complete with their marker, so a non-empty
        # directory without one was put there by someone else: never delete it.
        raise KafkaStartError(
            f"{target} exists but was not fetched by ensure_jars (no {_MARKER} marker); "
            f"remove it or point ${JARS_ENV_VAR} elsewhere."
        )

    # Leftovers of interrupted fetches: safe to delete, since we hold the lock.
    for stale in target.parent.glob(f".{target.name}.fetch-*"):
        shutil.rmtree(stale, ignore_errors=True)

    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.fetch-", dir=target.parent))
    try:
        jars = staging / "jars"
        # Maven runs on a copy of the pom in a scratch dir so nothing (target/, logs) is
        # written next to the source tree, which may be read-only when installed.
        work = staging / "work"
        work.mkdir()
        shutil.copy2(_POM, work / "pom.xml")
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(work / "pom.xml"),
            _DEPENDENCY_GOAL,
            f"-DoutputDirectory={jars}",
            "-DincludeScope=runtime",
        ]
        log.info("Fetching Kafka %s jars with Maven into %s", KAFKA_VERSION, target)
        started = time.monotonic()
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd,
            cwd=work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_MVN_TIMEOUT_S,
            check=False,
            # Dies with us, rather than finishing a download nobody will rename into place.
            preexec_fn=_child_setup(threading.current_thread() is threading.main_thread()),
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-_LOG_TAIL_LINES:]
            raise KafkaStartError(
                f"Maven failed ({result.returncode}) fetching Kafka jars:\n" + "\n".join(output)
            )
        names = [p.name for p in jars.glob("*.jar")]
        missing = [req for req in _REQUIRED_JARS if not any(n.startswith(req) for n in names)]
        if missing:
            raise KafkaStartError(f"Maven fetch finished but jars are missing: {missing}")
        (jars / _MARKER).write_text(
            f"kafka {KAFKA_VERSION}, {len(names)} jars, fetched {time.ctime()}\n"
        )
        if target.exists():  # an empty directory, e.g. made by hand for $RAPPORT_KAFKA_JARS
            target.rmdir()
        os.rename(jars, target)
        log.info("Fetched %d jars in %.1fs", len(names), time.monotonic() - started)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaStartError("'java' (17 or newer) is not on PATH and JAVA_HOME is not set")
    return java


def _child_setup(parent_is_main_thread: bool) -> Callable[[], None] | None:
    """Build the pre-exec hook that makes a child JVM (broker, Maven) behave well as ours."""
    libc = _libc
    if libc is None:
        return None

    def setup() -> None:
        # Dispositions set to "ignore" survive exec, and honcho starts its children with
        # SIGINT/SIGTERM ignored; a JVM that starts with SIGTERM ignored never installs its
        # shutdown handler, so SIGTERM would no longer mean "clean shutdown". Reset them.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            libc.signal(int(sig), None)  # None -> NULL == SIG_DFL
        if parent_is_main_thread:
            # If we die without stopping the broker (SIGKILL, crash) the kernel sends it
            # SIGTERM, so no orphan JVM keeps the ports. PDEATHSIG fires when the forking
            # *thread* exits, hence only when forking from the main thread.
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return setup


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (clean shutdown), then SIGKILL if the process outlives ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("Kafka pid %d ignored SIGTERM for %.0fs; killing it", proc.pid, timeout)
        proc.kill()
        proc.wait()


def new_cluster_id() -> str:
    """Return a fresh KRaft cluster id: 16 random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


# --------------------------------------------------------------------------------------------
# Cluster
# --------------------------------------------------------------------------------------------


class _Node:
    """One combined broker+controller process and its directory."""

    def __init__(self, index: int, root: Path, port: int, controller_port: int) -> None:
        self.index = index
        self.node_id = index + 1
        self.dir = root / f"node-{self.node_id}"
        self.log_dir = self.dir / "data"
        self.config = self.dir / "server.properties"
        self.log_file = self.dir / "kafka.log"
        self.port = port
        self.controller_port = controller_port
        self.proc: subprocess.Popen[bytes] | None = None
        # True while the node is down because we stopped or killed it on purpose.
        self.stopped_on_purpose = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def formatted_cluster_id(self) -> str | None:
        meta = self.log_dir / "meta.properties"
        if not meta.is_file():
            return None
        for line in meta.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        return None


class KafkaCluster(LocalServer):
    """A local KRaft Kafka cluster of combined broker+controller JVMs on 127.0.0.1.

    ``nodes=1`` is a single combined node (``node.id=1``); ``nodes=3`` is three combined
    nodes forming a static controller quorum, with replication factor 3 and
    ``min.insync.replicas=2`` for user and internal topics.

    Use as a context manager (``with KafkaCluster() as kafka: kafka.bootstrap_servers``) or
    call ``start()``/``stop()``. ``extra_config`` adds or overrides server properties on
    every node (e.g. a shorter ``broker.session.timeout.ms`` for fail-over tests);
    ``jvm_options`` are appended to the broker JVM's options.
    """

    def __init__(
        self,
        nodes: int = 1,
        base_port: int | None = None,
        data_dir: Path | None = None,
        heap_mb: int = 512,
        *,
        extra_config: Mapping[str, str] | None = None,
        jvm_options: Sequence[str] = (),
        ready_timeout: float = _READY_TIMEOUT_S,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        if heap_mb < 128:
            raise ValueError("heap_mb below 128 cannot run a broker")
        self._heap_mb = heap_mb
        self._extra_config = dict(extra_config or {})
        self._jvm_options = list(jvm_options)
        self._ready_timeout = ready_timeout
        self._owns_data_dir = data_dir is None
        self._data_dir: Path | None = Path(data_dir).resolve() if data_dir is not None else None
        if base_port is not None:
            ports = [base_port + k for k in range(2 * nodes)]
        else:
            ports = free_ports(2 * nodes)
        self._ports = ports
        self._nodes: list[_Node] = []
        self._cluster_id: str | None = None
        self._jars: Path | None = None
        self._started = False

    # ---- public properties -------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``127.0.0.1:port`` client addresses of every node."""
        return ",".join(f"127.0.0.1:{self._ports[2 * i]}" for i in range(self.size))

    @property
    def size(self) -> int:
        """Number of nodes in the cluster (running or not)."""
        return len(self._ports) // 2

    @property
    def node_ids(self) -> list[int]:
        """Kafka ``node.id`` of each node, by index (``node_ids[i] == i + 1``)."""
        return [i + 1 for i in range(self.size)]

    @property
    def cluster_id(self) -> str | None:
        """The KRaft cluster id, known once ``start()`` has run."""
        return self._cluster_id

    @property
    def data_dir(self) -> Path | None:
        """Root of the node directories (``node-<id>/``), known once ``start()`` has run."""
        return self._data_dir

    def node_address(self, i: int) -> str:
        """Client address (``127.0.0.1:port``) of node ``i`` alone (0-based index)."""
        return f"127.0.0.1:{self._ports[2 * self._check_index(i)]}"

    def log_path(self, i: int) -> Path:
        """Path of node ``i``'s combined stdout/stderr log (0-based index)."""
        return self._node(i).log_file

    def is_running(self, i: int) -> bool:
        """Whether node ``i``'s JVM is alive (0-based index)."""
        return self._node(i).running

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, wait: bool = True) -> KafkaCluster:
        """Format storage where needed, start every node and (by default) wait until ready.

        A node whose data directory is already formatted (``data_dir`` reused) keeps its
        data and cluster id. On any failure every started node is stopped again.

        Raises:
            KafkaStartError: jars, Java, formatting, or readiness failed.
        """
        if self._started:
            raise RuntimeError("cluster already started")
        self._started = True
        atexit.register(self._atexit)
        began = time.monotonic()
        try:
            self._check_ports_free(self._ports)
            self._jars = ensure_jars()
            self._prepare_nodes()
            for node in self._nodes:
                self._spawn(node)
            if wait:
                self.wait_ready()
                log.info(
                    "Kafka ready at %s after %.1fs",
                    self.bootstrap_servers,
                    time.monotonic() - began,
                )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> None:
        """Stop every node cleanly (SIGTERM, SIGKILL after ``timeout``); drop a temp data dir.

        Idempotent; safe to call after a failed ``start()``.
        """
        # All nodes get SIGTERM at once: shutting them down one by one would leave the last
        # ones without a controller quorum, which makes their controlled shutdown wait.
        for node in self._nodes:
            node.stopped_on_purpose = True
        running = [n.proc for n in self._nodes if n.proc is not None and n.proc.poll() is None]
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in running:
            _terminate(proc, max(0.0, deadline - time.monotonic()))
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
        self._started = False
        atexit.unregister(self._atexit)

    def stop_node(self, i: int, timeout: float = _STOP_TIMEOUT_S) -> None:
        """Stop node ``i`` cleanly (SIGTERM, then SIGKILL after ``timeout``); 0-based index."""
        node = self._node(i)
        node.stopped_on_purpose = True
        if node.proc is not None:
            _terminate(node.proc, timeout)

    def kill_node(self, i: int) -> None:
        """Kill node ``i`` with SIGKILL (a crash: no controlled shutdown); 0-based index."""
        node = self._node(i)
        node.stopped_on_purpose = True
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()

    def start_node(self, i: int, wait: bool = True) -> None:
        """Restart stopped or killed node ``i`` on its old data and ports; 0-based index.

        With ``wait`` (default) this blocks until every running node, the restarted one
        included, is ready; async callers pass ``wait=False`` and then
        ``await wait_ready_async()`` so their event loop keeps running.
        """
        node = self._node(i)
        if node.running:
            raise RuntimeError(f"node {i} (node.id={node.node_id}) is already running")
        self._check_ports_free([node.port, node.controller_port])
        self._spawn(node)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until every running node serves metadata listing all running nodes.

        Works with or without an event loop running in this thread (with one, the polling
        runs in a helper thread, blocking the caller's loop meanwhile: prefer
        ``wait_ready_async`` there).

        Raises:
            KafkaStartError: not ready within ``timeout`` (default 90 s) or a node died.
        """
        try:
            asyncio.get_running_loop()
            loop_running = True
        except RuntimeError:
            loop_running = False
        if not loop_running:
            asyncio.run(self.wait_ready_async(timeout))
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(lambda: asyncio.run(self.wait_ready_async(timeout))).result()

    async def wait_ready_async(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Async version of :meth:`wait_ready`: poll with aiokafka until the cluster is up."""
        # An own timeout rather than asyncio.timeout() at the call site: on expiry we raise
        # KafkaStartError carrying the last probe result and the node log tails.
        loop = asyncio.get_running_loop()
        limit = self._ready_timeout if timeout is None else timeout
        deadline = loop.time() + limit
        last_problem = "no probe finished yet"
        while True:
            self.check_alive()
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                problem = await asyncio.wait_for(self._probe(), timeout=remaining)
            except TimeoutError:
                problem = "probe still running at the deadline"
            except KafkaStartError:
                raise
            except Exception as exc:  # any client error means "not yet"
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                return
            last_problem = problem
            await asyncio.sleep(_POLL_INTERVAL_S)
        raise KafkaStartError(
            f"Kafka at {self.bootstrap_servers} not ready after {limit:.0f}s "
            f"(last problem: {last_problem})\n{self._log_tails()}"
        )

    def check_alive(self) -> None:
        """Raise if a node exited without being stopped or killed through this object.

        Raises:
            KafkaStartError: naming the dead node(s), with the tail of every node log.
        """
        dead = [
            f"{n.node_id} (exit {n.proc.returncode})"
            for n in self._nodes
            if n.proc is not None and n.proc.poll() is not None and not n.stopped_on_purpose
        ]
        if dead:
            raise KafkaStartError(
                f"Kafka node(s) {', '.join(dead)} exited unexpectedly\n{self._log_tails()}"
            )

    def __repr__(self) -> str:
        state = "started" if self._started else "stopped"
        return f"KafkaCluster(nodes={self.size}, bootstrap={self.bootstrap_servers!r}, {state})"

    # ---- internals -------------------------------------------------------------------------

    @staticmethod
    def _check_ports_free(ports: Sequence[int]) -> None:
        # Fail fast and clearly; otherwise the JVM dies on bind only after seconds of boot.
        # SO_REUSEADDR like the broker's own sockets, so TIME_WAIT leftovers don't count.
        for port in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError as exc:
                    raise KafkaStartError(f"port 127.0.0.1:{port} is in use: {exc}") from exc

    def _check_index(self, i: int) -> int:
        if not 0 <= i < self.size:
            raise IndexError(f"node index {i} out of range for a {self.size}-node cluster")
        return i

    def _node(self, i: int) -> _Node:
        self._check_index(i)
        if not self._nodes:
            raise RuntimeError("cluster not started")
        return self._nodes[i]

    def _prepare_nodes(self) -> None:
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="rapport-kafka-"))
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._nodes = [
            _Node(i, self._data_dir, self._ports[2 * i], self._ports[2 * i + 1])
            for i in range(self.size)
        ]
        # Reuse the cluster id of already-formatted nodes: reformatting would wipe their data.
        existing = {cid for n in self._nodes if (cid := n.formatted_cluster_id())}
        if len(existing) > 1:
            raise KafkaStartError(f"{self._data_dir} mixes cluster ids {sorted(existing)}")
        self._cluster_id = existing.pop() if existing else new_cluster_id()
        for node in self._nodes:
            node.dir.mkdir(parents=True, exist_ok=True)
            # Rewritten on every start: ports may differ between runs on a reused data dir,
            # which the static voter list tolerates (voters come from config, not the log).
            node.config.write_text(self._server_properties(node))
        self._format([n for n in self._nodes if n.formatted_cluster_id() is None])

    def _server_properties(self, node: _Node) -> str:
        rf = min(self.size, 3)
        min_isr = max(1, rf - 1)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self._nodes)
        # Kafka sizes the log cleaner's dedupe buffer at 128 MiB regardless of heap; keep it
        # to 1/8 of the heap so small heaps start (and start fast).
        dedupe = min(128, self._heap_mb // 8) * 1024 * 1024
        props: dict[str, str] = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(node.log_dir),
            "num.partitions": "6",
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(min_isr),
            "offsets.topic.replication.factor": str(rf),
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(min_isr),
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": str(min_isr),
            # Internal topics default to 50 partitions each; on a 2-core dev box creating
            # them on the first group join or transaction is a noticeable pause for nothing.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.num.partitions": "10",
            "auto.create.topics.enable": "true",
            # Tests start consumers one at a time: don't hold the first rebalance for 3 s.
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": str(dedupe),
            # Fewer threads than the defaults (3 network, 8 I/O): this is a small machine.
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        props.update(self._extra_config)
        header = "# Generated by devservers/kafka/launcher.py on every start; edits are lost.\n"
        return header + "".join(f"{k}={v}\n" for k, v in props.items())

    def _java_cmd(self, jvm_options: Sequence[str]) -> list[str]:
        assert self._jars is not None  # noqa: S101 - set by start() before any use
        return [
            _java(),
            *jvm_options,
            f"-Dlog4j2.configurationFile={_LOG4J_CONFIG}",
            "-Djava.awt.headless=true",
            # Java expands the trailing '*' itself; no shell is involved.
            "-cp",
            f"{self._jars}/*",
        ]

    def _format(self, nodes: Sequence[_Node]) -> None:
        assert self._cluster_id is not None  # noqa: S101 - set by _prepare_nodes
        # Formatting is one short JVM per node; run them side by side to save a second each.
        procs = [
            (
                node,
                subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    [
                        *self._java_cmd(["-Xmx256m", *_QUICK_JIT]),
                        "kafka.tools.StorageTool",
                        "format",
                        # "=" form: a base64url id may start with "-", which argparse
                        # would otherwise read as an option (seen: 1 run in ~64).
                        f"--cluster-id={self._cluster_id}",
                        "-c",
                        str(node.config),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                ),
            )
            for node in nodes
        ]
        failures = []
        for node, proc in procs:
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                text = out.decode("utf-8", "replace").strip()
                failures.append(f"node {node.node_id} (exit {proc.returncode}):\n{text}")
        if failures:
            raise KafkaStartError("kafka-storage format failed:\n" + "\n".join(failures))

    def _spawn(self, node: _Node) -> None:
        heap = f"{self._heap_mb}m"
        jvm_options = [
            f"-Xms{heap}",
            f"-Xmx{heap}",
            # The GC flags of Kafka's own kafka-run-class.sh.
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            # A broker that ran out of memory is broken; die loudly instead of limping on.
            "-XX:+ExitOnOutOfMemoryError",
            *_QUICK_JIT,
            *self._jvm_options,
        ]
        cmd = [*self._java_cmd(jvm_options), "kafka.Kafka", str(node.config)]
        with node.log_file.open("ab") as out:
            # Appending keeps the story of earlier runs (restarts, a reused data dir).
            out.write(
                f"\n===== launcher: starting node.id={node.node_id} at "
                f"{time.ctime()} =====\n".encode()
            )
            out.flush()
            node.stopped_on_purpose = False
            node.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd,
                cwd=node.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C aimed at the terminal's foreground group (pytest,
                # make) must not hit the JVMs behind our back; stop() shuts them down.
                start_new_session=True,
                preexec_fn=_child_setup(threading.current_thread() is threading.main_thread()),
            )

    async def _probe(self) -> str | None:
        """Return None if ready, else what is still missing."""
        running = [n for n in self._nodes if n.running]
        expected = {n.node_id for n in running}
        for node in running:
            # A bare TCP connect first: cheap, and it keeps aiokafka from logging a
            # connection error on every poll while the JVM is still booting.
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", node.port)
            except OSError:
                return f"node {node.node_id}: port {node.port} not accepting yet"
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            # Bootstrapping from this node alone proves *it* serves metadata; the broker
            # list it returns holds only registered, unfenced brokers.
            admin = AIOKafkaAdminClient(
                bootstrap_servers=node.address,
                request_timeout_ms=5000,
                client_id="rapport-kafka-launcher",
            )
            try:
                await admin.start()
                info = await admin.describe_cluster()
                await admin.list_topics()
            finally:
                await admin.close()
            if info.get("cluster_id") != self._cluster_id:
                # Someone else's broker on our port (a leftover from another run): never
                # report that as ready. Our own JVM will fail to bind and exit.
                raise KafkaStartError(
                    f"{node.address} is served by another Kafka cluster "
                    f"({info.get('cluster_id')}, not {self._cluster_id}); port in use?"
                )
            seen = {b["node_id"] for b in info.get("brokers", [])}
            if not expected <= seen:
                return f"node {node.node_id} sees brokers {sorted(seen)}, want {sorted(expected)}"
            if info.get("controller_id", -1) < 0:
                return f"node {node.node_id} knows no active controller yet"
        return None

    def _log_tails(self) -> str:
        return "\n".join(
            f"--- last lines of {n.log_file} ---\n{log_tail(n.log_file)}" for n in self._nodes
        )

    def _atexit(self) -> None:
        # Backstop for callers that never reach stop() (a crashed test session).
        self.stop(timeout=10)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _run(nodes: int, port: int | None, data_dir: Path | None, heap_mb: int) -> int:
    cluster = KafkaCluster(nodes=nodes, base_port=port, data_dir=data_dir, heap_mb=heap_mb)

    def start() -> None:
        cluster.start()
        print(f"Kafka ready at {cluster.bootstrap_servers}", flush=True)

    run_until_signal("Kafka", start=start, check_alive=cluster.check_alive, stop=cluster.stop)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``fetch`` the jars, or ``run`` a cluster until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m devservers.kafka.launcher",
        description=f"Local Apache Kafka {KAFKA_VERSION} (KRaft) without Docker.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch the broker jars into the cache and exit")
    run = sub.add_parser("run", help="run a cluster until SIGINT/SIGTERM")
    run.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    run.add_argument(
        "--port",
        type=int,
        default=None,
        help="client port of the first node (node i: port+2i, controller "
        "port+2i+1); default: free ports",
    )
    run.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep data here across runs (reused if already formatted); "
        "default: a temp dir removed on exit",
    )
    run.add_argument("--heap-mb", type=int, default=512, help="JVM heap per node (default 512)")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    # aiokafka logs each failed connection while a broker boots: noise for this CLI.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        if args.command == "fetch":
            print(ensure_jars())
            return 0
        return _run(args.nodes, args.port, args.data_dir, args.heap_mb)
    except KafkaStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
