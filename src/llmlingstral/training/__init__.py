"""Data collection, labelling and training of token classifiers."""
