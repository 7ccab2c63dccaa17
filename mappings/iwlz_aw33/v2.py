"""AW33 -> FHIR R4, version 2: as v1 (``mappings/iwlz_aw33/v1.py``) with one documented change.

v1 always writes ``EpisodeOfCare.status = planned``. v2 derives the status from the
allocation, so a receiver can tell live allocations from withdrawn ones without
reading iWlz extensions:

- ``RedenIntrekking`` present (the allocation was withdrawn) -> ``cancelled``
- otherwise                                               -> ``planned``

The reverse direction is unchanged: ``fhir-to-iwlz-aw33`` v1 reads v2 output too
(the status is derived data; RedenIntrekking itself still rides in its extension).
"""

from __future__ import annotations

from dataclasses import replace

from mappings.iwlz_aw33 import v1
from mappings.toolkit import EXT, JsonObj, Shape, XmlToFhir


def status(res: JsonObj) -> str:
    withdrawn = any(e.get("url") == EXT + "redenintrekking" for e in res.get("extension", []))
    return "cancelled" if withdrawn else "planned"


SHAPE: Shape = replace(v1.SHAPE, status=status)
TO_FHIR = XmlToFhir(replace(v1.TO_FHIR.spec, version="2"), SHAPE)
