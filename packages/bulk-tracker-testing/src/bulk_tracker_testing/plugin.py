"""pytest plugin (entry point ``pytest11``): installing bulk-tracker-testing makes these fixtures available."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .capture import capture_signals as _capture_signals


@pytest.fixture
def capture_signals() -> Callable[..., Any]:
    """``with capture_signals() as captured:`` records bulk_tracker signals sent in the block.

    A thin wrapper over :func:`bulk_tracker_testing.capture_signals`; see its arguments.
    """
    return _capture_signals
