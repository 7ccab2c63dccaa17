"""All SQL lives in ``hub/store/``: a statement in a string anywhere else under ``hub/`` is reported.

Only string tokens are read (``tokenize``), and only the upper-case keywords the
codebase writes its SQL in, so a docstring that says "select a party" is prose,
not SQL. A flow's own tables have their store module in ``hub/store/flows/``.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "hub"
STORE = HUB / "store"

# statements, and the conditions a caller would hand to a store method ("action = ?", "ORDER BY ts")
SQL = re.compile(r"\b(SELECT|INSERT INTO|INSERT OR IGNORE INTO|UPDATE [a-z_]+ SET|DELETE FROM|CREATE TABLE"
                 r"|CREATE (UNIQUE )?INDEX|ALTER TABLE|DROP TABLE|WHERE|ORDER BY|GROUP BY)\b"
                 r"|\b[a-z_][a-z0-9_.]* (=|<>|<=|>=|<|>|LIKE|NOT LIKE) \?")


def sql_in_source(source: str) -> Iterator[tuple[int, str]]:
    """(line, keyword) of every string token in ``source`` that holds an SQL statement."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.STRING and token.type != getattr(tokenize, "FSTRING_MIDDLE", -1):
            continue
        for match in SQL.finditer(token.string):
            line = token.start[0] + token.string.count("\n", 0, match.start())
            yield line, match.group(0)


def sql_outside_store(tree: Path, store: Path) -> list[str]:
    """``path:line: KEYWORD`` for every SQL statement in a module of ``tree`` that is not under ``store``."""
    found = []
    for path in sorted(tree.rglob("*.py")):
        if path.is_relative_to(store):
            continue
        for line, keyword in sql_in_source(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(tree.parent)}:{line}: {keyword}")
    return found


def test_no_module_outside_the_store_holds_sql() -> None:
    found = sql_outside_store(HUB, STORE)
    assert not found, "SQL outside hub/store/ (move it into a store module):\n" + "\n".join(found)


def test_the_scanner_reports_sql_outside_the_store(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    (hub / "store").mkdir(parents=True)
    (hub / "flows").mkdir()
    (hub / "store" / "fine.py").write_text('Q = "SELECT 1 FROM audit"\n')
    (hub / "flows" / "sneaky.py").write_text(
        '"""Select the rows we need; update the caller."""\n'
        "\n"
        "def rows(db):\n"
        "    # SELECT in a comment is no statement\n"
        '    db.execute("""\n'
        "        CREATE TABLE IF NOT EXISTS t (a TEXT)\"\"\")\n"
        "    table = 't'\n"
        '    db.execute(f"DELETE FROM {table} WHERE a = ?", ("x",))\n'
        "    log.records('action = ? AND seq >= ?', ('received', 1))\n"
        "    return db.execute('select 1')  # lower case is not the house style, and is not caught\n")
    assert sql_outside_store(hub, hub / "store") == [
        "hub/flows/sneaky.py:6: CREATE TABLE",
        "hub/flows/sneaky.py:8: DELETE FROM",
        "hub/flows/sneaky.py:8: WHERE",
        "hub/flows/sneaky.py:8: a = ?",
        "hub/flows/sneaky.py:9: action = ?",
        "hub/flows/sneaky.py:9: seq >= ?",
    ]


def test_prose_is_not_sql() -> None:
    source = '"""Select the deliveries, then update the calendar and insert into the log."""\nx = 1  # SELECT\n'
    assert list(sql_in_source(source)) == []
