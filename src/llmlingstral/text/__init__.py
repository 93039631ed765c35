"""Cutting text into the pieces compression keeps or drops: units, words, sentences."""
