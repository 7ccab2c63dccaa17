"""Safe parsing of inbound payloads, and field access by JSON pointer or XPath.

XML is parsed with no DTD, no entity expansion and no network: a DOCTYPE is
refused outright, which stops external entities and billion-laughs alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from lxml import etree

from hub.errors import Unparseable

_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


def parse_xml(payload: bytes) -> etree._Element:
    head = payload[:2048].lstrip()
    if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in payload.upper():
        raise Unparseable("XML with a DOCTYPE or ENTITY declaration is refused", rule="XML_DTD")
    try:
        root = etree.fromstring(payload, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise Unparseable(f"XML is not well-formed: {exc.msg} (line {exc.lineno})", rule="XML_SYNTAX") from None
    if root is None:
        raise Unparseable("XML document is empty", rule="XML_SYNTAX")
    return root


def parse_json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Unparseable(f"invalid JSON: {exc}", rule="JSON_SYNTAX") from None


@dataclass(frozen=True)
class Document:
    """A parsed payload: JSON data or an XML tree."""

    json: Any = None
    xml: etree._Element | None = None

    @classmethod
    def parse(cls, content_type: str, payload: bytes) -> Document:
        if is_xml(content_type):
            return cls(xml=parse_xml(payload))
        return cls(json=parse_json(payload))

    def get(self, path: str) -> str | None:
        """One string value by JSON pointer (JSON) or XPath (XML); None when absent."""
        if not path:
            return None
        if self.xml is not None:
            found = self.xml.xpath(path)
            if isinstance(found, list):
                if not found:
                    return None
                first = found[0]
                text = first.text if isinstance(first, etree._Element) else str(first)
                return text.strip() if text else None
            return str(found)
        node = self.json
        for part in path.strip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
            if node is None:
                return None
        return None if isinstance(node, dict | list) else str(node)


def is_xml(content_type: str) -> bool:
    base = content_type.split(";")[0].strip().lower()
    return base.endswith("/xml") or base.endswith("+xml")
