"""Publisher confirms counted exactly, however the broker groups them.

A broker confirms a channel's delivery tags singly or "every tag up to N", and may confirm out of order.
Only the lowest unconfirmed tag is kept, and the few confirmed above it: no set of every tag in flight
to fill at each publish and empty at each confirm. The transport's relay and the bench's loader both
count with it.
"""

from __future__ import annotations


class ConfirmWindow:
    """Which delivery tags of one confirm-mode channel the broker has confirmed."""

    __slots__ = ("low", "ahead")

    def __init__(self) -> None:
        self.low = 1  # the lowest tag not yet confirmed: every tag below it is
        self.ahead: set[int] = set()  # tags above ``low`` confirmed out of order (seldom any)

    def confirm(self, tag: int, multiple: bool) -> bool:
        """Count one confirm; True when it moved ``low``, so some publish may now be settled."""
        low = self.low
        if tag < low:
            return False  # confirmed before: nothing more is confirmed by it
        ahead = self.ahead
        if not multiple and tag != low:
            ahead.add(tag)
            return False  # the lowest still waits
        low = tag + 1
        if ahead:
            ahead.difference_update([t for t in ahead if t < low])
            while low in ahead:
                ahead.discard(low)
                low += 1
        self.low = low
        return True

    def confirmed(self) -> int:
        """How many tags are confirmed."""
        return self.low - 1 + len(self.ahead)
