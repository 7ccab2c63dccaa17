"""A subscriber's webhook endpoint on a loopback port: it can take notifications, be down (nothing
listens), hang on a call, or accept connections and never answer (a handshake that never completes)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Endpoint:
    """Every bundle POSTed to it, in arrival order; ``hang`` holds each call until ``release``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bundles: list[dict[str, Any]] = []
        self.hang = False
        self.released = threading.Event()
        self.arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> Endpoint:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with outer.arrived:
                    outer.bundles.append(orjson.loads(body))
                    outer.arrived.notify_all()
                if outer.hang:
                    outer.released.wait(120)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        """Nothing listens on the port any more: every call is refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not predicate(self.bundles):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(min(left, 0.5))
        return True


class Silent:
    """A port that accepts connections (the kernel's backlog) and never answers a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def close(self) -> None:
        self.sock.close()


def status_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """The SubscriptionStatus parameters of a notification bundle, by name (events as a list)."""
    params = bundle["entry"][0]["resource"]["parameter"]
    out: dict[str, Any] = {"events": []}
    for p in params:
        if p["name"] == "notification-event":
            out["events"].append({part["name"]: next(v for k, v in part.items() if k.startswith("value"))
                                  for part in p["part"]})
        else:
            out[p["name"]] = next(v for k, v in p.items() if k.startswith("value"))
    return out


def event_numbers(bundles: list[dict[str, Any]]) -> list[int]:
    """Every event number delivered, in arrival order (a repeat shows twice)."""
    return [int(ev["event-number"]) for b in bundles for ev in status_of(b)["events"]
            if status_of(b)["type"] == "event-notification"]
