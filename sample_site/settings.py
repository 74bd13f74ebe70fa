"""The bookshop sample: SQLite by default; SAMPLE_DATABASE_URL=postgres://..., mysql://... or sqlite:///path.

The test suite's switch, BULK_TRACKER_TEST_DB=postgres|mariadb, also works (the local servers of .ci/run), with
BULK_TRACKER_TEST_DB_NAME naming the database (``bookshop`` by default; the tests use ``test_`` + that name).
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = os.environ.get("SAMPLE_SECRET_KEY", "sample-site-only-not-for-production")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "sample_site.urls"
STATIC_URL = "static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "bulk_tracker",
    "sample_site.bookshop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bulk_tracker.middleware.TrackingMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def database_from_url(url: str) -> dict:
    """The ``DATABASES`` entry of ``url``: ``postgres://``, ``mysql://`` (or ``mariadb://``), ``sqlite:///path``."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parts.path}
    engine = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}[parts.scheme]
    return {
        "ENGINE": f"django.db.backends.{engine}",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


TEST_DATABASE_NAME = os.environ.get("BULK_TRACKER_TEST_DB_NAME", "bookshop")
TEST_DATABASE_URLS = {
    "postgres": f"postgres://postgres@127.0.0.1:5432/{TEST_DATABASE_NAME}",
    "mariadb": f"mysql://root@127.0.0.1:3306/{TEST_DATABASE_NAME}",
}
DATABASES = {
    "default": database_from_url(
        os.environ.get("SAMPLE_DATABASE_URL") or TEST_DATABASE_URLS.get(os.environ.get("BULK_TRACKER_TEST_DB", ""), "")
    )
}
