from django.apps import AppConfig


class BookshopConfig(AppConfig):
    name = "sample_site.bookshop"
    label = "bookshop"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the receivers)
