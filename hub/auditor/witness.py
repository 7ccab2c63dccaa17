"""A witness: a third party that keeps the latest tree head it verified and checks each new one against it.

A witness is handed a signed head, or a consistency proof from the head it keeps to a newer one: as
files (``zorghub audit tree-head --export``, ``zorghub audit consistency KEPT``), or in its inbox,
where the hub publishes them (``hub.auditor.publish``, read by ``follow_inbox``). A new head
is accepted only when it provably extends the kept one: a smaller tree is a rollback, another root
for the same size or a proof that does not reach the kept root is a fork. Either is an ``Alarm``.
The witness's state is one JSON file, replaced atomically, so a crash keeps the old head.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.errors import ConfigError
from zorghub_verify import CONSISTENCY_FORMAT, HEAD_FORMAT, ProofError, TreeHead, check_consistency


class Alarm(Exception):
    """The new head cannot be an honest extension of the kept one: a fork or a rollback."""


def load_state(path: Path) -> TreeHead | None:
    if not path.exists():
        return None
    try:
        return TreeHead.from_dict(json.loads(path.read_bytes()))
    except (OSError, ValueError, ProofError) as exc:
        raise ConfigError(f"cannot read the witness state {path}: {exc}") from None


def save_state(path: Path, head: TreeHead) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(head.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _against(kept: TreeHead, new: TreeHead) -> None:
    if new.tree_size < kept.tree_size:
        raise Alarm(f"rollback: the new tree head has {new.tree_size} records, the kept one of {kept.timestamp} "
                    f"has {kept.tree_size}")
    if new.tree_size == kept.tree_size and new.root_hash != kept.root_hash:
        raise Alarm(f"fork: two different signed roots for a tree of {new.tree_size} records")


def observe(document: Any, key: Ed25519PublicKey, kept: TreeHead | None) -> tuple[TreeHead, str]:
    """(the head to keep now, what was checked); ``Alarm`` on a fork or rollback, ``ProofError`` on a bad proof."""
    if not isinstance(document, dict):
        raise ProofError("not a tree head or a consistency proof")
    fmt = document.get("format")
    if fmt == HEAD_FORMAT:
        new, proof = TreeHead.from_dict(document), None
    elif fmt == CONSISTENCY_FORMAT:
        new, proof = TreeHead.from_dict(document.get("new")), document
    else:
        raise ProofError("not a tree head or a consistency proof")
    new.check_signature(key)
    if isinstance(proof, dict) and TreeHead.from_dict(proof.get("new")) != new:
        raise ProofError("the consistency proof is for another head than the one published")
    if kept is None:
        if proof is not None:
            check_consistency(proof, key)
        return new, f"first head kept: {new.tree_size} records (nothing earlier to compare with)"
    _against(kept, new)
    if new.tree_size == kept.tree_size:
        return kept, f"unchanged: {kept.tree_size} records"
    if not isinstance(proof, dict):
        raise ProofError(f"the new head ({new.tree_size} records) comes without a consistency proof from the kept "
                         f"one ({kept.tree_size}): ask the hub for 'zorghub audit consistency {kept.tree_size} "
                         f"{new.tree_size}'")
    old_size = TreeHead.from_dict(proof.get("old")).tree_size
    if old_size != kept.tree_size:
        raise ProofError(f"the consistency proof starts at {old_size} records, the kept head at {kept.tree_size}: "
                         f"ask the hub for 'zorghub audit consistency {kept.tree_size} {new.tree_size}'")
    try:
        check_consistency(proof, key, kept)
    except ProofError as exc:
        raise Alarm(f"fork: the head of {new.tree_size} records is not consistent with the kept head of "
                    f"{kept.tree_size} records: {exc}") from None
    return new, f"consistent: {kept.tree_size} -> {new.tree_size} records"


#: the kind of the hub's messages that carry a head (``hub.auditor.publish``)
TREE_HEAD_KIND = "zorghub.tree-head"


def follow_inbox(url: str, queue: str, key: Ed25519PublicKey, state: Path, *, follow: bool,
                 report: Callable[[str], None], poll_seconds: float = 1.0) -> int:
    """Check the heads in a witness party's inbox, in order; 0 when every one was accepted.

    Each head is acked only after the state file holds its verdict (a crash sees it again, and an
    unchanged head is harmless). Other messages in the inbox are acked and named as skipped: a witness
    should have an inbox of its own. ``follow``: wait for more when the inbox is empty, till an alarm;
    else stop there. An alarm stops it with 1; a head that cannot be checked (no proof from the kept
    one) is reported, and makes the exit code 1, but does not stop it.
    """
    import pika

    from hub.transports.amqp import parameters

    conn = pika.BlockingConnection(parameters(url, "witness"))
    rc = 0
    try:
        ch = conn.channel()
        kept = load_state(state)
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=False)
            if method is None:
                if not follow:
                    return rc
                conn.sleep(poll_seconds)
                continue
            if props.type != TREE_HEAD_KIND:
                report(f"skipped: message {props.message_id} is a {props.type or 'message'}, not a tree head")
                ch.basic_ack(method.delivery_tag)
                continue
            try:
                new, what = observe(json.loads(body), key, kept)
            except Alarm as exc:
                report(f"ALARM: {exc}")
                ch.basic_ack(method.delivery_tag)
                return 1
            except (ValueError, ProofError) as exc:
                report(f"not checked: message {props.message_id}: {exc}")
                rc = 1
            else:
                if new != kept:
                    save_state(state, new)
                    kept = new
                report(f"ok: {what}")
            ch.basic_ack(method.delivery_tag)
    finally:
        if conn.is_open:
            conn.close()
