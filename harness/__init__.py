"""Regression harness: a pytest plugin plus the `harness` CLI."""
