"""Helpers the tests share, in plain modules (never imported from a conftest or a test module)."""
