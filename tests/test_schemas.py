"""The project's JSON Schemas: the fast compiled validator and the reference validator agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.catalogue.schemas import SCHEMA_ROOT
from hub.pipeline.check import _fast_validator
from hub.plugins.registry import load_flows

# the core's schemas by their name under schemas/, each flow's by its absolute path (as its kinds name them)
SCHEMAS = sorted(str(p.relative_to(SCHEMA_ROOT)) for p in SCHEMA_ROOT.rglob("*.json")) + sorted(
    str(p) for f in load_flows() if f.schema_dir for p in f.schema_dir.glob("*.json"))
# keywords that mean the same in draft 7 (what fastjsonschema compiles) and in 2020-12 (what we declare)
SHARED_KEYWORDS = {"$id", "$schema", "additionalProperties", "allOf", "anyOf", "oneOf", "const", "description",
                   "enum", "format", "if", "then", "else", "items", "maxLength", "maximum", "minItems",
                   "maxItems", "minLength", "minimum", "exclusiveMinimum", "exclusiveMaximum", "not", "pattern",
                   "properties", "required", "title", "type", "uniqueItems", "default", "examples"}


def keywords(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key == "properties":
                for sub in value.values():
                    keywords(sub, found)
            elif key == "items":
                assert isinstance(value, dict), "items must be one schema (an array means prefixItems in 2020-12)"
                keywords(value, found)
            else:
                keywords(value, found)
    elif isinstance(node, list):
        for item in node:
            keywords(item, found)


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_uses_only_keywords_shared_by_both_drafts(name: str) -> None:
    found: set[str] = set()
    keywords(json.loads((SCHEMA_ROOT / name).read_text()), found)
    unknown = {k for k in found - SHARED_KEYWORDS if not k.startswith("x-") and k != "not-before"}
    assert not unknown, f"{name} uses {unknown}: check fastjsonschema's draft-7 meaning before allowing it"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**9) | st.text(max_size=12)
    | st.sampled_from(["999990019", "2026-11-01", "73730800", "5509", "nieuw", "0344"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("name", SCHEMAS)
@settings(max_examples=40, deadline=None)
@given(instance=json_values)
def test_fast_and_reference_validators_agree(name: str, instance: Any) -> None:
    schema = json.loads((SCHEMA_ROOT / name).read_text())
    reference = jsonschema.validators.validator_for(schema)(schema).is_valid(instance)
    assert _fast_validator(name)(instance) == reference


def test_an_every_field_valid_instance_agrees(tmp_path: Path) -> None:
    from hub.testing import GEELHOED

    doc = {"besluitnummer": "IB-1", "ingangsdatum": "2026-11-01", "zzp": "5VV", "client": GEELHOED,
           "voorkeurZorgaanbieder": "73730800"}
    assert _fast_validator("kinds/indicatiebesluit.schema.json")(doc)
    assert not _fast_validator("kinds/indicatiebesluit.schema.json")({**doc, "extra": 1})
