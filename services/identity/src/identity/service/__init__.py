"""Identity's use cases: they flush, never commit; events go to the outbox in the same
session, audit entries to the chain in the same session."""
