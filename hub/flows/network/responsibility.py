"""Who is a client's responsible zorgkantoor: the one place the hub derives it.

What the records *state* (the indicatie's ``initieelVerantwoordelijkZorgkantoor``,
the bemiddeling's ``verantwoordelijkZorgkantoor``, a toewijzing's
``uitvoerendZorgkantoor``, the region of the client's address) stays what it
was written as: the registers are append-only and the hub never writes a
party's record for it. An ``Overdracht`` (Bemiddelingregister.graphql) moves
the responsibility without touching those records: from its
``overdrachtDatum`` on, the zorgkantoor it names is responsible.

Why per client, not per bemiddeling: in the Wlz a client has one zorgkantoor
at a time, the one of the region the client lives in, and an Overdracht is
registered because the client moves (``verhuisDatum``). So the client's latest
effective Overdracht decides for every record of that client, including a
new indicatie or bemiddeling registered after the move.

Every caller (the authorisation relations, the notification recipients, the
query templates) goes through :meth:`Responsibility.zorgkantoren`: the
latest effective Overdracht first, else what the records state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hub.flows.network.registers import SUBJECTS, Record, Registers

NL = ZoneInfo("Europe/Amsterdam")

# The zorgkantoor-owned records of a bemiddeling that the new zorgkantoor keeps
# (writes the next version of) after an Overdracht. The Overdracht record itself
# is not among them: it is the transferring zorgkantoor's own statement.
TAKEN_OVER = frozenset({"Bemiddeling", "Bemiddelingspecificatie", "Regiehouder"})


def today() -> date:
    """The Dutch calendar date: an overdrachtDatum is a date in the Netherlands, not in UTC."""
    return datetime.now(NL).date()


def _moment(value: object) -> float:
    """A vaststellingMoment as a sortable number; offsets differ, so compare instants, not strings."""
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return 0.0


class Responsibility:
    """Resolves a client's responsible zorgkantoor on a date, from the registers."""

    def __init__(self, registers: Registers, clock: Callable[[], date] = today) -> None:
        self.registers = registers
        self.clock = clock
        self._memo: dict[str, str] | None = None

    @contextlib.contextmanager
    def remembered(self) -> Iterator[None]:
        """Resolve each client once for the duration (one query: its many decisions read one state)."""
        outer = self._memo
        self._memo = {} if outer is None else outer
        try:
            yield
        finally:
            self._memo = outer

    def overdracht(self, client: str, on: date | None = None) -> Record | None:
        """The client's latest Overdracht in effect on ``on`` (today): active, overdrachtDatum reached.

        Latest by overdrachtDatum, then vaststellingMoment, then registration
        time, so a chain A to B to C ends at C and a later transfer back wins.
        """
        day = (on or self.clock()).isoformat()
        effective = [r for r in self.registers.for_client(client, ("Overdracht",))
                     if r.active and str(r.data.get("overdrachtDatum", "9999-12-31")) <= day]
        if not effective:
            return None
        return max(effective, key=lambda r: (str(r.data["overdrachtDatum"]),
                                             _moment(r.data.get("vaststellingMoment")), r.ts))

    def moved_to(self, client: str) -> str:
        """COD001 code of the zorgkantoor an effective Overdracht moved the client to ('' when none)."""
        if self._memo is not None and client in self._memo:
            return self._memo[client]
        found = self.overdracht(client)
        code = str(found.data.get("verantwoordelijkZorgkantoor", "")) if found else ""
        if self._memo is not None:
            self._memo[client] = code
        return code

    def zorgkantoren(self, client: str, stated: Iterable[str]) -> set[str]:
        """THE resolution: the zorgkantoor of the latest effective Overdracht, else what the records state."""
        moved = self.moved_to(client)
        if moved:
            return {moved}
        return {str(s) for s in stated if s}

    def zorgkantoor(self, rec: Record, stated: str) -> str:
        """The single responsible zorgkantoor for one record, given what that record states."""
        return next(iter(self.zorgkantoren(rec.client, (stated,))), "")

    def bemiddeling_of(self, rec: Record) -> Record | None:
        """The Bemiddeling a record hangs under: itself, its parent, or (a Zorglevering) its grandparent."""
        node: Record | None = rec
        while node is not None and node.subject != "Bemiddeling":
            parent = SUBJECTS[node.subject].parent
            if parent is None or not node.parent_id:
                return None
            node = self.registers.current(parent[1], node.parent_id)
        return node

    def stated_bemiddeling_zorgkantoor(self, rec: Record) -> str:
        """What the record's Bemiddeling states as verantwoordelijkZorgkantoor, ignoring any Overdracht."""
        bem = self.bemiddeling_of(rec)
        return str(bem.data.get("verantwoordelijkZorgkantoor", "")) if bem else ""

    def bemiddeling_zorgkantoor(self, rec: Record) -> str:
        """The zorgkantoor responsible for the bemiddeling a record belongs to, Overdracht first."""
        return self.zorgkantoor(rec, self.stated_bemiddeling_zorgkantoor(rec))

    def keeper_code(self, rec: Record) -> str:
        """COD001 of the zorgkantoor that now keeps a taken-over record ('' when its stored owner keeps it)."""
        return self.moved_to(rec.client) if rec.subject in TAKEN_OVER else ""
