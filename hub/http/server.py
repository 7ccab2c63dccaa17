"""Serving the app with uvicorn: in the foreground (``zorghub http``), or in a thread beside the
workers (``zorghub serve`` with ``http_port``, the tests). The socket is bound before uvicorn starts,
so port 0 gets a free port and the caller learns which.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from hub.errors import ConfigError
from hub.settings import Settings


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted connections only for such a socket, and
    # without it a response's header and body writes wait out the client's delayed ACK (40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


@dataclass
class Running:
    server: Server
    thread: threading.Thread
    sock: socket.socket

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.sock.getsockname()[0]
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()


class Server(uvicorn.Server):
    """uvicorn's server, for which SIGTERM and SIGINT are a clean stop (exit 0), as for ``zorghub serve``.

    uvicorn raises a captured signal again once it has shut down, so the process would die of it.
    """

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def config(app: Any) -> uvicorn.Config:
    # the hub's own JSON access log replaces uvicorn's; lifespan runs the app's clean-up at exit
    return uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5)


def start(app: Any, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``app`` in a daemon thread; returns once it accepts connections."""
    sock = bind(host, port)
    server = Server(config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="zorghub-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise ConfigError("the HTTP server did not start")
        time.sleep(0.01)
    return Running(server, thread, sock)


def start_for(settings: Settings, host: str | None = None, port: int | None = None, **kwargs: Any) -> Running:
    from hub.http.app import create_app

    return start(create_app(settings, **kwargs), host or settings.http_bind,
                 settings.http_port if port is None else port)


def run(app: Any, host: str, port: int, announce: Any = None) -> None:
    """Serve in the foreground until SIGTERM or SIGINT (uvicorn's own signal handling)."""
    sock = bind(host, port)
    if announce is not None:
        announce(f"http://{sock.getsockname()[0]}:{sock.getsockname()[1]}")
    try:
        Server(config(app)).run(sockets=[sock])
    finally:
        sock.close()
