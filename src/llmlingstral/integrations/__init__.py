"""Integrations with other frameworks; each is an optional extra, imported only where used."""
