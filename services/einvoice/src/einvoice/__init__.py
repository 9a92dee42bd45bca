"""The einvoice service."""
