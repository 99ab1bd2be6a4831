"""Baselines of single-particle-imaging hit classification."""
