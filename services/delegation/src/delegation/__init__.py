"""The delegation service."""
