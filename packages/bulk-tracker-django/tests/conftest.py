from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.test import TestCase

from bulk_tracker.signals import post_create_signal, post_delete_signal, post_update_signal

SIGNALS = {"create": post_create_signal, "update": post_update_signal, "delete": post_delete_signal}


@dataclass
class Call:
    kind: str
    sender: type
    objects: list[Any]
    tracking_info: Any
    using: str


class Recorder:
    """Every bulk_tracker signal call, in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.receivers: list[tuple[Any, Any]] = []

    def receiver(self, kind: str) -> Any:
        def receive(sender: type, objects: list[Any], tracking_info_: Any = None, using: str = "", **kw: Any) -> None:
            self.calls.append(Call(kind, sender, objects, tracking_info_, using))

        return receive

    def of(self, kind: str) -> list[Call]:
        return [call for call in self.calls if call.kind == kind]

    def only(self, kind: str) -> Call:
        """The single call of this run, asserting it is the only one."""
        assert [c.kind for c in self.calls] == [kind], self.calls
        return self.calls[0]

    @contextmanager
    def committing(self) -> Iterator[None]:
        """Run on_commit callbacks at the end of the block, as a commit would (for django_db tests)."""
        with ExitStack() as stack:
            for alias in settings.DATABASES:
                stack.enter_context(TestCase.captureOnCommitCallbacks(using=alias, execute=True))
            yield


@pytest.fixture
def received() -> Iterator[Recorder]:
    recorder = Recorder()
    receivers = recorder.receivers = [(signal, recorder.receiver(kind)) for kind, signal in SIGNALS.items()]
    for signal, receiver in receivers:
        signal.connect(receiver, weak=False)
    yield recorder
    for signal, receiver in receivers:
        signal.disconnect(receiver)
