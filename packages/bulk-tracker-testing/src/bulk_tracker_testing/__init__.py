"""Test helpers for code that reacts to bulk-tracker signals."""

from .assertions import (
    assert_changed,
    assert_created,
    assert_deleted,
    assert_m2m_changed,
    assert_nothing_sent,
    assert_updated,
    describe,
)
from .capture import CapturedSignals, SignalCall, capture_signals

__version__ = "1.0.0"

__all__ = [
    "CapturedSignals",
    "SignalCall",
    "assert_changed",
    "assert_created",
    "assert_deleted",
    "assert_m2m_changed",
    "assert_nothing_sent",
    "assert_updated",
    "capture_signals",
    "describe",
]
