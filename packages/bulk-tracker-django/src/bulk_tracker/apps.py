from django.apps import AppConfig


class BulkTrackerConfig(AppConfig):
    """The ``bulk_tracker`` app: registers the system checks and installs its patches when Django is ready."""

    name = "bulk_tracker"
    verbose_name = "bulk-tracker"

    def ready(self) -> None:
        from . import (
            base_manager,  # noqa: F401  (registers the tracked base manager)
            checks,  # noqa: F401  (registers the system checks E001, W002, W003, W004)
            deletion,  # noqa: F401  (registers the delete reporting)
            m2m,  # noqa: F401  (registers the many-to-many reporting)
            registry,
        )

        registry.install()
