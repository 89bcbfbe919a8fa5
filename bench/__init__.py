"""Benchmarks against the real system; ``python -m bench`` runs them all into one table."""
