"""Seed data of the price catalogue (seed.json)."""
