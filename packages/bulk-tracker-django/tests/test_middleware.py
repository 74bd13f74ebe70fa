"""TrackingMiddleware puts request.user into the tracking context, for sync and async stacks."""

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User

from bulk_tracker import current_tracking_info
from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Book

pytestmark = pytest.mark.django_db

AUTHENTICATED = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bulk_tracker.middleware.TrackingMiddleware",
]


def late_user(get_response):
    """Sets request.user after TrackingMiddleware ran, as a later authentication layer would."""

    def middleware(request):
        request.user = User.objects.get(username="late")
        return get_response(request)

    return middleware


@pytest.fixture
def user(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"  # no session table
    return User.objects.create_user("ann")


def get(client, path, is_async):
    async def aget():
        return await client.get(path)

    response = async_to_sync(aget)() if is_async else client.get(path)
    assert response.status_code == 200
    assert response.content == b"1"


@pytest.mark.parametrize("path", ["/rename/", "/arename/"])
@pytest.mark.parametrize("is_async", [False, True], ids=["wsgi", "asgi"])
def test_write_in_a_request_carries_the_logged_in_user(settings, user, received, path, is_async, request):
    settings.MIDDLEWARE = AUTHENTICATED
    book = Book.objects.create(title="old")
    client = request.getfixturevalue("async_client" if is_async else "client")
    client.force_login(user)
    with received.committing():
        get(client, path, is_async)
    call = received.only("update")
    assert call.objects == [ModifiedObject(book, {"title": "old"})]
    assert (call.tracking_info.user.pk, call.tracking_info.user.username) == (user.pk, "ann")
    assert current_tracking_info() is None


@pytest.mark.parametrize("is_async", [False, True], ids=["wsgi", "asgi"])
def test_user_set_after_the_middleware_is_still_reported(settings, client, async_client, received, is_async):
    settings.MIDDLEWARE = ["bulk_tracker.middleware.TrackingMiddleware", f"{__name__}.late_user"]
    late = User.objects.create_user("late")
    Book.objects.create(title="old")
    with received.committing():
        get(async_client if is_async else client, "/rename/", is_async)
    assert received.only("update").tracking_info.user.pk == late.pk


def test_outside_a_request_the_context_is_empty(settings, client, user, received):
    settings.MIDDLEWARE = AUTHENTICATED
    client.force_login(user)
    Book.objects.create(title="old")
    with received.committing():
        get(client, "/rename/", is_async=False)
        Book.objects.update(title="after")
    assert [c.kind for c in received.calls] == ["update", "update"]
    assert received.calls[0].tracking_info.user.pk == user.pk
    assert received.calls[1].tracking_info is None
    assert current_tracking_info() is None
