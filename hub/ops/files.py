"""A watched-directory file adapter: files dropped in a folder are published into the hub as a party.

For parties whose systems export files rather than speak AMQP (the NZa OHW ZIP is the typical case).
One adapter serves one party and one folder; the file's suffix picks the kind and content type. A
file is taken when it has not changed for ``settle_seconds`` (so half-written files wait) and names
ending in ``.part`` or starting with ``.`` are ignored. After the broker confirms it, the file moves
to ``sent/``. The message id is derived from the file's name and content, so a crash between publish
and move only re-publishes a message the hub recognises as a duplicate.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.client import HubClient

CONTENT_TYPES = {".zip": "application/zip", ".csv": "text/csv", ".json": "application/json",
                 ".xml": "application/xml"}


@dataclass
class FileDropAdapter:
    directory: Path
    client: HubClient
    kinds: dict[str, str]  # suffix (".zip") -> message kind ("nza.ohw")
    settle_seconds: float = 2.0
    sent: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        (self.directory / "sent").mkdir(parents=True, exist_ok=True)

    def candidates(self) -> list[Path]:
        now = time.time()
        out = []
        for path in sorted(self.directory.iterdir()):
            if not path.is_file() or path.name.startswith(".") or path.suffix == ".part":
                continue
            if path.suffix.lower() not in self.kinds:
                continue
            if now - path.stat().st_mtime < self.settle_seconds:
                continue
            out.append(path)
        return out

    def scan_once(self) -> list[tuple[str, str]]:
        """Publish every settled file; returns (file name, message id) pairs."""
        done = []
        for path in self.candidates():
            body = path.read_bytes()
            suffix = path.suffix.lower()
            message_id = "file-" + hashlib.sha256(path.name.encode() + b"\0" + body).hexdigest()[:32]
            content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
            self.client.send(self.kinds[suffix], body, content_type=content_type, message_id=message_id,
                             headers={"x-filename": path.name})
            shutil.move(str(path), str(self.directory / "sent" / path.name))
            done.append((path.name, message_id))
        self.sent.extend(done)
        return done

    def watch(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            self.scan_once()
            stop.wait(interval)
