"""Where the project's own schemas live, and a cached loader for them.

The core's JSON Schemas and XSDs sit in ``schemas/`` at the project root; each flow keeps its own in
its ``schemas/`` folder, and the kind catalogue names those by absolute path (``schema_path``).
External standards (the iWlz XSDs and XSLT) are never shipped: they are loaded from
``Settings.schema_dir``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCHEMA_ROOT = Path(__file__).resolve().parents[2] / "schemas"


def schema_path(name: str, schema_dir: Path | None = None) -> str:
    """A schema's name as the loader takes it: relative to ``SCHEMA_ROOT``, or absolute in a flow's folder."""
    if not name or schema_dir is None:
        return name
    return str(Path(schema_dir) / name)


@functools.cache
def load_json_schema(name: str) -> dict[str, Any]:
    """The schema ``name``: a path relative to ``SCHEMA_ROOT``, or an absolute one (a flow's schema)."""
    path = SCHEMA_ROOT / name  # an absolute name stays itself
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
