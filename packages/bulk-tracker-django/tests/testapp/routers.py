from typing import Any


class WritesToOther:
    """Sends writes of Tag to "other" but its reads to "default": tracked reads must follow the write."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return "default" if model._meta.model_name == "tag" else None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return "other" if model._meta.model_name == "tag" else None
