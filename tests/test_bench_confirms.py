"""The bench loader counts publisher confirms exactly, however the broker groups them."""

from __future__ import annotations

from types import SimpleNamespace

import pika

from bench.broker import _Confirms


def _frame(tag: int, multiple: bool = False, nack: bool = False) -> SimpleNamespace:
    method = (pika.spec.Basic.Nack if nack else pika.spec.Basic.Ack)(delivery_tag=tag, multiple=multiple)
    return SimpleNamespace(method=method)


def test_single_multiple_and_out_of_order_confirms_are_each_counted_once() -> None:
    c = _Confirms()
    for f in (_frame(2), _frame(3), _frame(1), _frame(6), _frame(5, multiple=True), _frame(6)):
        c.on_confirm(f)
    assert c.confirmed() == 6 and c.low - 1 == 6 and not c.ahead
    c.on_confirm(_frame(9))
    assert c.confirmed() == 7 and c.low - 1 == 6
    c.on_confirm(_frame(8, nack=True))
    assert c.confirmed() == 8 and c.nacked == 1
    c.on_confirm(_frame(10, multiple=True))
    assert c.confirmed() == 10 and c.low - 1 == 10 and not c.ahead
