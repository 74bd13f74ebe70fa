from django.apps import AppConfig


class BulkTrackerConfig(AppConfig):
    name = "bulk_tracker"
    verbose_name = "bulk-tracker"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .deletion import install_on_delete_reporting, sync_bridges

        install_on_delete_reporting()
        sync_bridges()
