"""Use cases: they flush, never commit (the entry point owns the transaction)."""
