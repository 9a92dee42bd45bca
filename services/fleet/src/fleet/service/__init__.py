"""Use cases: they flush, never commit; events go to the outbox in the same session."""
