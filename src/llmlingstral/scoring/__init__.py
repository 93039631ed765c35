"""Scoring: per-token surprisal from causal Mistral models."""
