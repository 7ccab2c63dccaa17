"""A 3-node RabbitMQ cluster of its own, on this machine, for fault tests with real parts.

The nodes run as the ``rabbitmq`` user (they share its Erlang cookie), each on loopback ports
of its own (AMQP, distribution, management, stream) and with its own data and log directories
under the project's ``.cluster/`` folder. They are clustered to each other only: the machine's
main node is never stopped, reset or joined. Starting a cluster takes tens of seconds, so the
tests share one per session (the ``cluster`` fixture in conftest).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
PLUGINS = ("rabbitmq_management", "rabbitmq_consistent_hash_exchange", "rabbitmq_stream")
USER = "rabbitmq"


_taken: set[int] = set()


def free_port(low: int = 20000, high: int = 32000) -> int:
    """A loopback port that is free now, below the kernel's ephemeral range (where any client's
    outgoing connection may take a port between our check and the node's listen)."""
    for _ in range(200):
        port = random.randint(low, high)
        if port in _taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise AssertionError(f"no free port between {low} and {high}")


def why_unavailable() -> str:
    """Why a cluster cannot be started here, or "" when it can."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        return "RabbitMQ is not installed"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"there is no {USER} user"
    if os.geteuid() != 0:
        return f"starting nodes as the {USER} user needs root"
    if not shutil.which("runuser"):
        return "runuser is missing"
    return ""


@dataclass
class Node:
    name: str  # the Erlang node name, e.g. zh-ab12-1@localhost
    base: Path
    amqp: int
    dist: int
    mgmt: int
    stream: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.amqp}"

    @property
    def pid_file(self) -> Path:
        return self.base / "node.pid"

    def env(self) -> dict[str, str]:
        return {
            "HOME": pwd.getpwnam(USER).pw_dir,  # the rabbitmq user's Erlang cookie
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp),
            "RABBITMQ_DIST_PORT": str(self.dist),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def write_config(self) -> None:
        (self.base / "mnesia").mkdir(parents=True, exist_ok=True)
        (self.base / "log").mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")
        (self.base / "rabbitmq-env.conf").write_text("")  # not the machine's (it names the main node)
        (self.base / "advanced.config").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text("\n".join([
            f"listeners.tcp.local = 127.0.0.1:{self.amqp}",
            "management.tcp.ip = 127.0.0.1",
            f"management.tcp.port = {self.mgmt}",
            f"stream.listeners.tcp.local = 127.0.0.1:{self.stream}",
            "stream.advertised_host = 127.0.0.1",
            f"stream.advertised_port = {self.stream}",
            "cluster_partition_handling = pause_minority",
            "log.console = false",
            "log.file.level = warning",
            "",
        ]))

    def start(self) -> None:
        log = open(self.base / "server.out", "ab")  # noqa: SIM115  (kept for the child)
        self.proc = subprocess.Popen(
            ["runuser", "-u", USER, "--", "env", "-i", *(f"{k}={v}" for k, v in self.env().items()),
             str(RABBITMQ_BIN / "rabbitmq-server")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """``rabbitmqctl -n <this node> ...`` as the rabbitmq user; the output, or an AssertionError."""
        done = subprocess.run(
            ["runuser", "-u", USER, "--", "env", "-i", *(f"{k}={v}" for k, v in self.env().items()),
             str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.name, *args],
            capture_output=True, timeout=timeout)
        out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        assert done.returncode == 0, f"rabbitmqctl {' '.join(args)} on {self.name} failed:\n{out}"
        return out

    def await_startup(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.ctl("await_startup", "--timeout", "60", timeout=90)
                return
            except (AssertionError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} did not start in {timeout} s:\n{self.log_tail()}") from None
                time.sleep(1)

    def pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM: a crash, not a shutdown."""
        os.kill(self.pid(), signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)
            self.proc = None

    def stop(self, timeout: float = 60) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(self.pid(), signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for path in [self.base / "server.out", *sorted((self.base / "log").glob("*.log"))]:
            with contextlib.suppress(OSError):
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


@dataclass
class Cluster:
    """Three nodes clustered to each other; ``url`` reaches all three (the hub fails over between them)."""

    base: Path
    nodes: list[Node] = field(default_factory=list)
    user: str = "guest"
    password: str = "guest"

    @classmethod
    def create(cls, root: Path, size: int = 3) -> Cluster:
        token = uuid.uuid4().hex[:6]
        base = root / f"cluster-{token}"
        base.mkdir(parents=True)
        cluster = cls(base)
        for i in range(1, size + 1):
            cluster.nodes.append(Node(f"zh-{token}-{i}@localhost", base / f"node{i}", free_port(), free_port(),
                                      free_port(), free_port()))
        for node in cluster.nodes:
            node.write_config()
        rabbitmq = pwd.getpwnam(USER)
        for path in [base, *base.rglob("*")]:
            os.chown(path, rabbitmq.pw_uid, rabbitmq.pw_gid)
        return cluster

    def start(self) -> None:
        """Start every node at once (it is the slow part), then join the others to the first."""
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.await_startup()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        for node in self.nodes:
            node.await_startup()
        self.wait_running(len(self.nodes))

    def live(self) -> list[Node]:
        """The nodes this harness has running (not killed or stopped)."""
        return [n for n in self.nodes if n.proc is not None]

    def running_nodes(self, via: Node | None = None) -> list[str]:
        node = via or next(n for n in self.nodes if n.proc is not None)
        out = node.ctl("eval", "rabbit_nodes:all_running().")
        return [n for n in (node.name for node in self.nodes) if n in out]

    def wait_running(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.running_nodes()) < count:
            assert time.monotonic() < deadline, f"the cluster did not reach {count} running nodes"
            time.sleep(1)

    def url(self, vhost: str = "", nodes: list[Node] | None = None) -> str:
        """A multi-host broker URL over ``nodes`` (all by default), as the hub's ``broker_url`` takes it."""
        hosts = ",".join(n.host_port for n in (nodes or self.nodes))
        return f"amqp://{self.user}:{self.password}@{hosts}/{vhost}"

    def stream_url(self, vhost: str = "", nodes: list[Node] | None = None) -> str:
        """The stream protocol's hosts, as the hub's ``stream_url`` takes them."""
        hosts = ",".join(f"127.0.0.1:{n.stream}" for n in (nodes or self.nodes))
        return f"rabbitmq-stream://{self.user}:{self.password}@{hosts}/{vhost}"

    def node_url(self, node: Node, vhost: str = "") -> str:
        return f"amqp://{self.user}:{self.password}@{node.host_port}/{vhost}"

    def mgmt_url(self, node: Node | None = None) -> str:
        return f"http://127.0.0.1:{(node or self.nodes[0]).mgmt}"

    def restart(self, node: Node) -> None:
        """Bring a killed or stopped node back; it rejoins the cluster from its own data."""
        node.start()
        node.await_startup()
        self.wait_running(len(self.nodes))

    def stop(self) -> None:
        for node in self.nodes:  # all at once: each waits for its own shutdown
            if node.proc is not None:
                with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                    os.kill(node.pid(), signal.SIGTERM)
        for node in self.nodes:
            node.stop()

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
