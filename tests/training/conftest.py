"""Fixtures for the training tests (defined in training_data.py, importable by name)."""

from training_data import arrays, sqlite_uri  # noqa: F401  (pytest finds fixtures here)
