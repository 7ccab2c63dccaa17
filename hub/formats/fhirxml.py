"""FHIR R4 XML <-> JSON, fast, with lxml.

fhir.resources can read FHIR XML, but through full model validation (~100 msg/s).
The hub only needs the *syntax* conversion, which needs just one fact per
element: does it repeat, and is it a primitive (and which JSON type), a complex
type, a contained resource or XHTML. Those facts come from the fhir.resources
R4B model classes (the field annotation is a ``List[...]`` or not), computed once
per type and cached.

JSON is read with ``parse_float=Decimal`` and written back without going through
a float, so ``72.50`` stays ``72.50``.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from itertools import zip_longest
from typing import Any, cast

import orjson
from lxml import etree

from hub.errors import SchemaViolation, Unparseable

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_F = f"{{{FHIR_NS}}}"
Json = dict[str, Any]


@dataclass(frozen=True)
class FieldInfo:
    many: bool
    kind: str  # "bool" | "int" | "decimal" | "str" | "xhtml" | "complex" | "resource"
    model: type | None = None


def _model(name: str) -> type:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(name)  # type: ignore[no-any-return]
    except (KeyError, ValueError) as exc:
        raise SchemaViolation(f"unknown FHIR R4 type {name!r}", rule="FHIR") from exc


def _info(annotation: Any) -> FieldInfo:
    many = False
    t = annotation
    while True:
        origin = typing.get_origin(t)
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            t = next(a for a in typing.get_args(t) if a is not type(None))
        elif origin in (list, typing.List):  # noqa: UP006 - the models use typing.List
            many, t = True, typing.get_args(t)[0]
        elif origin is typing.Annotated:
            base, *marks = typing.get_args(t)
            if any(type(m).__name__ == "Xhtml" for m in marks):
                return FieldInfo(many, "xhtml")
            t = base
        else:
            break
    if hasattr(t, "get_model_klass"):
        model = t.get_model_klass()
        return FieldInfo(many, "resource" if model.__name__ == "Resource" else "complex", model)
    if t is bool:
        return FieldInfo(many, "bool")
    if t is int:
        return FieldInfo(many, "int")
    if t is Decimal:
        return FieldInfo(many, "decimal")
    return FieldInfo(many, "str")


@cache
def fields(model: type) -> dict[str, FieldInfo]:
    """JSON name -> facts, for every element of a FHIR model class (cached per class)."""
    out: dict[str, FieldInfo] = {}
    for name, f in model.model_fields.items():  # type: ignore[attr-defined]
        if name.endswith("__ext") or name == "fhir_comments" or not (f.json_schema_extra or {}).get("element_property"):
            continue
        out[f.alias or name] = _info(f.annotation)
    return out


@cache
def sequence(model: type) -> tuple[str, ...]:
    """Element order, as XML requires it."""
    known = fields(model)
    return tuple(n for n in model.elements_sequence() if n in known)  # type: ignore[attr-defined]


# --- XML -> JSON -------------------------------------------------------------------

_parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)


def parse_xml(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _parser)
    except etree.XMLSyntaxError as exc:
        raise Unparseable(f"not well-formed XML: {exc}", rule="XML") from exc
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise Unparseable("XML with a DOCTYPE is refused", rule="XML")
    return root


def xml_to_dict(data: bytes | etree._Element) -> Json:
    """A FHIR resource in XML -> its JSON form as a dict (decimals as ``Decimal``)."""
    root = parse_xml(data) if isinstance(data, bytes) else data
    return _resource(root)


def _resource(el: etree._Element) -> Json:
    qn = etree.QName(el)
    if qn.namespace != FHIR_NS:
        raise SchemaViolation(f"element {qn.localname} is not in the FHIR namespace", rule="FHIR")
    out: Json = {"resourceType": qn.localname}
    _children(el, _model(qn.localname), out)
    return out


def _convert(kind: str, text: str | None) -> Any:
    if text is None:
        return None
    if kind == "bool":
        return text == "true"
    if kind == "int":
        return int(text)
    if kind == "decimal":
        return Decimal(text)
    return text


def _children(el: etree._Element, model: type, out: Json) -> None:
    info = fields(model)
    for child in el:
        if not isinstance(child.tag, str):
            continue
        qn = etree.QName(child)
        name = qn.localname
        if name == "div" and qn.namespace == XHTML_NS and "div" in info:
            out["div"] = etree.tostring(child, encoding=str, with_tail=False)
            continue
        fi = info.get(name)
        if fi is None or qn.namespace != FHIR_NS:
            raise SchemaViolation(f"unknown element {name!r} in {model.__name__}", rule="FHIR")
        if fi.kind == "complex":
            assert fi.model is not None
            value: Any = _element(child, fi.model)
        elif fi.kind == "resource":
            inner = next((c for c in child if isinstance(c.tag, str)), None)
            if inner is None:
                raise SchemaViolation(f"{name} holds no resource", rule="FHIR")
            value = _resource(inner)
        else:
            value = _convert(fi.kind, child.get("value"))
            meta = _primitive_meta(child)
            if fi.many:
                out.setdefault(name, []).append(value)
                out.setdefault("_" + name, []).append(meta)
            else:
                if value is not None:
                    out[name] = value
                if meta is not None:
                    out["_" + name] = meta
            continue
        if fi.many:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    for key in [k for k in out if k.startswith("_")]:
        if isinstance(out[key], list):
            if all(v is None for v in out[key]):
                del out[key]
            elif all(v is None for v in out[key[1:]]):
                del out[key[1:]]


def _primitive_meta(el: etree._Element) -> Json | None:
    meta: Json = {}
    if el.get("id") is not None:
        meta["id"] = el.get("id")
    exts = [_element(c, _model("Extension")) for c in el if isinstance(c.tag, str)]
    if exts:
        meta["extension"] = exts
    return meta or None


def _element(el: etree._Element, model: type) -> Json:
    out: Json = {}
    if el.get("id") is not None:
        out["id"] = el.get("id")
    if el.get("url") is not None:
        out["url"] = el.get("url")
    _children(el, model, out)
    return out


_DEC = "\u2063dec\u2063"
_DEC_RE = re.compile(r'"\\u2063dec\\u2063([-+0-9.eE]+)"|"' + _DEC + r'([-+0-9.eE]+)"')


def _dec_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return _DEC + str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Json) -> bytes:
    """JSON bytes; decimals written exactly as held (no float round trip)."""
    raw = orjson.dumps(obj, default=_dec_default)
    return _DEC_RE.sub(lambda m: m.group(1) or m.group(2), raw.decode()).encode()


def xml_to_json(data: bytes) -> bytes:
    return dumps(xml_to_dict(data))


# --- JSON -> XML -------------------------------------------------------------------


def loads(data: bytes | str) -> Json:
    """Parse FHIR JSON keeping decimals exact."""
    try:
        obj = json.loads(data, parse_float=Decimal)
    except ValueError as exc:
        raise Unparseable(f"not valid JSON: {exc}", rule="JSON") from exc
    if not isinstance(obj, dict) or "resourceType" not in obj:
        raise SchemaViolation("a FHIR resource must be a JSON object with resourceType", rule="FHIR")
    return obj


def dict_to_element(obj: Json) -> etree._Element:
    rt = obj.get("resourceType")
    if not isinstance(rt, str):
        raise SchemaViolation("resourceType is missing", rule="FHIR")
    el = etree.Element(_F + rt, nsmap={None: FHIR_NS})  # type: ignore[dict-item]
    _fill(el, obj, _model(rt), resource=True)
    return el


def json_to_xml(data: bytes | str | Json) -> bytes:
    obj = data if isinstance(data, dict) else loads(data)
    return etree.tostring(dict_to_element(obj), encoding="UTF-8", xml_declaration=True)


def _text(kind: str, value: Any) -> str:
    if kind == "bool" or isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(el: etree._Element, obj: Json, model: type, resource: bool) -> None:
    info = fields(model)
    known = {"resourceType"} if resource else {"id"}
    if not resource and "id" in obj:
        el.set("id", str(obj["id"]))
    if model.__name__ == "Extension" and "url" in obj:
        el.set("url", str(obj["url"]))
        known.add("url")
    for name in sequence(model):
        if name in known:
            continue
        value, meta = obj.get(name), obj.get("_" + name)
        if value is None and meta is None:
            continue
        fi = info[name]
        known.update((name, "_" + name))
        if fi.kind == "xhtml":
            div = parse_xml(str(value).encode())
            el.append(div)
        elif fi.kind in ("complex", "resource"):
            items = cast(list[Json], value if fi.many else [value])
            for item in items:
                child = etree.SubElement(el, _F + name)
                if fi.kind == "resource":
                    child.append(dict_to_element(item))
                else:
                    assert fi.model is not None
                    _fill(child, item, fi.model, resource=False)
        else:
            values = value if fi.many else [value]
            metas = (meta if fi.many else [meta]) or []
            for v, m in zip_longest(values or [], metas):
                child = etree.SubElement(el, _F + name)
                if m and m.get("id") is not None:
                    child.set("id", str(m["id"]))
                if v is not None:
                    child.set("value", _text(fi.kind, v))
                for x in (m or {}).get("extension", []):
                    _fill(etree.SubElement(child, _F + "extension"), x, _model("Extension"), resource=False)
    extra = [k for k in obj if k not in known and k != "fhir_comments"]
    if extra:
        raise SchemaViolation(f"unknown element(s) {', '.join(sorted(extra))} in {model.__name__}", rule="FHIR")
