"""Cutting text into the pieces compression keeps or drops: units, words, sentences, and
the bidirectional controls that must be kept or dropped in pairs."""
