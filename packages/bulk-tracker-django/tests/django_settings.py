"""Settings of the bulk_tracker test suite. BULK_TRACKER_TEST_DB=sqlite|postgres|mariadb picks the backend."""

import os

BACKEND = os.environ.get("BULK_TRACKER_TEST_DB", "sqlite")
HOST = os.environ.get("BULK_TRACKER_TEST_DB_HOST", "127.0.0.1")


def database(name: str) -> dict:
    if BACKEND == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if BACKEND == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": os.environ.get("BULK_TRACKER_TEST_DB_USER", "postgres"),
            "HOST": HOST,
            "PORT": "5432",
        }
    if BACKEND == "mariadb":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "USER": os.environ.get("BULK_TRACKER_TEST_DB_USER", "root"),
            "PASSWORD": "",
            "HOST": HOST,
            "PORT": "3306",
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"},
        }
    raise ValueError(f"BULK_TRACKER_TEST_DB must be sqlite, postgres or mariadb, not {BACKEND!r}")


NAME = os.environ.get("BULK_TRACKER_TEST_DB_NAME", "bulk_tracker")
DATABASES = {"default": database(NAME), "other": database(f"{NAME}_other")}
SECRET_KEY = "bulk-tracker-tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "bulk_tracker",
    "testapp",
]
MIDDLEWARE: list = []
ROOT_URLCONF = "testapp.urls"
LOGGING_CONFIG = None
