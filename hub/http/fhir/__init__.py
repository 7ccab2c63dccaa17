"""FHIR R4 REST for PGO apps: read and search of the registers, AuditEvent, Subscription (``routes``)."""

from hub.http.fhir.routes import routes

__all__ = ["routes"]
