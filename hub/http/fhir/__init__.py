"""FHIR R4 REST for PGO apps: read and search of the registers, AuditEvent, Subscription (``routes``),
and their part of ``/openapi.json`` (``openapi_paths``)."""

from __future__ import annotations

from typing import Any

from hub.http.fhir.openapi import paths
from hub.http.fhir.routes import routes


def openapi_paths() -> dict[str, Any]:
    return paths("/fhir")


__all__ = ["openapi_paths", "routes"]
