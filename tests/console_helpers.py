"""What the console's browser tests share: Debian's chromium and its flags, and logging in.

The ``browser`` and ``shots`` fixtures are in ``tests/conftest.py``.
"""

from __future__ import annotations

import shutil
from typing import Any

from tests.http_live import Live

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: the flags a root process in a closed network needs (no sandbox, no calls home)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def login(browser: Any, live: Live, name: str, password: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live.url}/console/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_load_state()
    return page
