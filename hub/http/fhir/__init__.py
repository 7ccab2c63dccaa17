"""FHIR R4 REST for PGO apps: read and search of the registers, AuditEvent, Subscription."""
