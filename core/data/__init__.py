"""Data: the store, datasets and everything that reads files into it."""
