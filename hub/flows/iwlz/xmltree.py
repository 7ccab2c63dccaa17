"""An iWlz XML element as plain JSON and back, losslessly: how a register record keeps what its message said.

A register record holds the network model's fields; an iWlz message says more than those (a
Klasse, a Toewijzingstijd, a Leefeenheid...). The record keeps the client's part of the message
it came from as a tree under ``iwlz``, so the message the hub later writes from that record
says exactly what the sender said. A node is ``{"n": name, "t": text}`` for a leaf or
``{"n": name, "c": [children]}``; ``"b": true`` marks an element of the basisschema namespace.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

BASE_NS = "http://www.istandaarden.nl/iwlz/2_2/basisschema/schema"

Tree = dict[str, Any]


def to_tree(el: etree._Element) -> Tree:
    """The JSON tree of one element (comments and processing instructions are not data: dropped)."""
    q = etree.QName(el)
    node: Tree = {"n": q.localname}
    if q.namespace == BASE_NS:
        node["b"] = True
    kids = [c for c in el if isinstance(c.tag, str)]
    if kids:
        node["c"] = [to_tree(c) for c in kids]
    else:
        node["t"] = (el.text or "").strip()
    return node


def append(parent: etree._Element, node: Tree, msg_ns: str) -> etree._Element:
    """Write ``node`` under ``parent``: message elements in ``msg_ns``, basisschema ones in theirs."""
    el = etree.SubElement(parent, f"{{{BASE_NS if node.get('b') else msg_ns}}}{node['n']}")
    if "c" in node:
        for child in node["c"]:
            append(el, child, msg_ns)
    else:
        el.text = node.get("t", "")
    return el


def child(node: Tree, name: str) -> Tree | None:
    return next((c for c in node.get("c", []) if c["n"] == name), None)


def text(node: Tree | None, *path: str) -> str | None:
    """The text at a path of local names below ``node`` (None when any step is missing)."""
    for name in path:
        if node is None:
            return None
        node = child(node, name)
    return None if node is None else node.get("t")


def with_only(node: Tree, path: tuple[str, ...], keep: Tree) -> Tree:
    """A copy of ``node`` whose container at ``path`` holds ``keep`` as its one record."""
    if not path:
        return {**node, "c": [keep]}
    return {**node, "c": [with_only(c, path[1:], keep) if c["n"] == path[0] else c for c in node.get("c", [])]}


def merged(first: Tree, path: tuple[str, ...], records: list[Tree]) -> Tree:
    """``first`` with the container at ``path`` holding all ``records``: the inverse of ``with_only``."""
    if not path:
        return {**first, "c": records}
    return {**first, "c": [merged(c, path[1:], records) if c["n"] == path[0] else c for c in first.get("c", [])]}


def at(node: Tree, path: tuple[str, ...]) -> list[Tree]:
    """The records of the container at ``path`` (the children of its last step)."""
    cur: Tree | None = node
    for name in path:
        cur = child(cur, name) if cur is not None else None
    return list(cur.get("c", [])) if cur is not None else []
