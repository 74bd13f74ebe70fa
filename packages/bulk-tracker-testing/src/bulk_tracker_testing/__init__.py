"""Test helpers for code that reacts to bulk-tracker signals (filled in by the testing issue)."""

__version__ = "0.1.0"
