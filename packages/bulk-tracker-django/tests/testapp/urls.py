from django.http import HttpRequest, HttpResponse
from django.urls import path

from testapp.models import Book


def rename(request: HttpRequest) -> HttpResponse:
    count = Book.objects.filter(title="old").update(title="new")
    return HttpResponse(str(count))


async def arename(request: HttpRequest) -> HttpResponse:
    count = await Book.objects.filter(title="old").aupdate(title="new")
    return HttpResponse(str(count))


urlpatterns = [path("rename/", rename), path("arename/", arename)]
