from django.apps import AppConfig


class BulkTrackerConfig(AppConfig):
    """The ``bulk_tracker`` app: registers the system checks and the delete reporting when Django is ready."""

    name = "bulk_tracker"
    verbose_name = "bulk-tracker"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks E001, W001, W002)
        from .deletion import install_on_delete_reporting, sync_bridges

        install_on_delete_reporting()
        sync_bridges()
