"""Rankers for the coarse, document-level pass."""
