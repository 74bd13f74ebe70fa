"""The benchmark's models, the same fields for every implementation."""
