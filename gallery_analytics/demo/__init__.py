"""Deterministic synthetic gallery data: generated from a seed, bulk-loaded with COPY."""
