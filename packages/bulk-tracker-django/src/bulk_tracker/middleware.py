"""TrackingMiddleware: every tracked write made while serving a request carries ``request.user``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from bulk_tracker_core import tracking


class TrackingMiddleware:
    """Put the request's user into the tracking context, sync or async.

    The user is read lazily, when a receiver first touches it, so an authentication layer
    that sets ``request.user`` after this middleware still counts. Place it after
    ``AuthenticationMiddleware``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        with tracking(user=_lazy_user(request)):
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        with tracking(user=_lazy_user(request)):
            response: HttpResponseBase = await self.get_response(request)
            return response


def _lazy_user(request: HttpRequest) -> Any:
    return SimpleLazyObject(lambda: getattr(request, "user", None))
