"""Stomper: makes a Python repository pass its quality gates, one verified fix per file."""

__version__ = "0.1.0"
