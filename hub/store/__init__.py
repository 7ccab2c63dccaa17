"""The hub's own storage: the message store (audit), idempotency, dead letters, registers."""
