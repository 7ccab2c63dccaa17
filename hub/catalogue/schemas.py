"""Where the project's own schemas live, and a cached loader for them.

The project's JSON Schemas and XSDs sit in ``schemas/`` at the project root.
External standards (the iWlz XSDs and XSLT) are never shipped: they are loaded
from ``Settings.schema_dir``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCHEMA_ROOT = Path(__file__).resolve().parents[2] / "schemas"


@functools.cache
def load_json_schema(name: str) -> dict[str, Any]:
    path = SCHEMA_ROOT / name
    return json.loads(path.read_text(encoding="utf-8"))
