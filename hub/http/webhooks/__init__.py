"""Rest-hook subscriptions: their store-backed service, FHIR shapes and the dispatcher."""
