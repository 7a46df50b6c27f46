"""Chaos tests: break the running compose stack on purpose, then check every promise."""
