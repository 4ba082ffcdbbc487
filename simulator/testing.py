"""pytest plugin and in-process helpers for running the provider in tests (filled in by the provider app work)."""
