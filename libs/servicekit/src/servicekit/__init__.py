"""Plumbing shared by every portal service. No business rules live here."""
