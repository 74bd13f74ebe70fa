"""The tracking context: a TrackingInfo (or a pause) for a block of code.

Backed by a ``ContextVar``, so threads and asyncio tasks never see each other's context.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from .objects import TrackingInfo, check_tracking_info

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class _State:
    info: TrackingInfo | None = None
    suspended: bool = False


_OFF = _State()  # immutable, so safe as the default
_state: ContextVar[_State] = ContextVar("bulk_tracker_state", default=_OFF)
_NOTHING_GIVEN = TrackingInfo()


def current_tracking_info() -> TrackingInfo | None:
    """The TrackingInfo of the innermost ``tracking()`` block, or None."""
    return _state.get().info


def is_suspended() -> bool:
    """True inside ``suspended()``: nothing is tracked and nothing is sent."""
    return _state.get().suspended


def bind_tracking_state(func: Callable[P, T]) -> Callable[P, T]:
    """``func`` bound to the tracking state of now, for work queued now and run later (a delivery at commit).

    Whenever it is called (inside ``suspended()``, in another ``tracking()`` block), ``func`` runs with
    this moment's TrackingInfo and suspension; the caller's state is back once it returns or raises.
    """
    state = _state.get()

    @functools.wraps(func)
    def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        token = _state.set(state)
        try:
            return func(*args, **kwargs)
        finally:
            _state.reset(token)

    return bound


def resolve_tracking_info(explicit: object = None) -> TrackingInfo | None:
    """The info an operation delivers: an explicit ``tracking_info_`` wins over the context."""
    info = check_tracking_info(explicit)
    return current_tracking_info() if info is None else info


class _StateBlock(ABC):
    """A context manager and decorator (sync and async) that sets the state for its block."""

    def __init__(self) -> None:
        # Keyed by the id of the state each entry set, so one instance can be entered from
        # several threads or tasks at once (each exits with the token of its own context).
        self._tokens: dict[int, Token[_State]] = {}

    @abstractmethod
    def _enter_state(self, state: _State) -> _State: ...

    def __enter__(self) -> TrackingInfo | None:
        state = self._enter_state(_state.get())
        self._tokens[id(state)] = _state.set(state)
        return state.info

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _state.reset(self._tokens.pop(id(_state.get())))

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return cast("F", async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return cast("F", wrapper)


class tracking(_StateBlock):  # noqa: N801 - used like contextlib's lower-case helpers
    """Attach a TrackingInfo to every tracked operation in the block.

    ``with tracking(user=u, comment="import"):`` or ``@tracking(comment="nightly")``.
    Nested blocks merge: set attributes of the inner block win, ``kwargs`` dicts merge, and a
    subclass of TrackingInfo keeps its type and its own fields (see ``TrackingInfo.merged_with``).
    ``tracking(info)`` alone, outside any block or with ``replace=True``, makes ``info`` itself
    (not a copy) the context. Pass ``replace=True`` to ignore the outer blocks.
    """

    def __init__(
        self,
        info: TrackingInfo | None = None,
        *,
        user: Any = None,
        comment: str | None = None,
        reason: str | None = None,
        system: str | None = None,
        kwargs: dict[str, Any] | None = None,
        is_robust: bool = False,
        replace: bool = False,
    ) -> None:
        super().__init__()
        check_tracking_info(info)
        given = TrackingInfo(
            user=user, comment=comment, reason=reason, system=system, kwargs=dict(kwargs or {}), is_robust=is_robust
        )
        if info is None:
            self.info = given
        elif given == _NOTHING_GIVEN:
            self.info = info  # the very object: receivers get what the caller passed
        else:
            self.info = info.merged_with(given)
        self.replace = replace

    def _enter_state(self, state: _State) -> _State:
        if self.replace or state.info is None:
            return _State(self.info, state.suspended)
        return _State(state.info.merged_with(self.info), state.suspended)


class suspended(_StateBlock):  # noqa: N801
    """Switch tracking off for the block: no old values are read and no signal is sent."""

    def _enter_state(self, state: _State) -> _State:
        return _State(state.info, True)
