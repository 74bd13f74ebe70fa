"""Settings for one worker process: BENCH_IMPL picks the implementation, BENCH_DB the database.

Set by ``benchmarks/worker.py`` before ``django.setup()``; read nowhere else.
"""

import os

IMPL = os.environ["BENCH_IMPL"]  # one of worker.IMPLS
DB = os.environ["BENCH_DB"]  # sqlite | postgres | mariadb
DB_NAME = os.environ.get("BENCH_DB_NAME", "bulk_tracker_bench")
HOST = os.environ.get("BENCH_DB_HOST", "127.0.0.1")
PG_JIT = os.environ.get("BENCH_PG_JIT", "default")  # default: the server's setting; or on / off


def database() -> dict:
    if DB == "sqlite":
        # A file, as in production: commits reach the disk (Django's default journal and sync modes).
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BENCH_SQLITE_PATH"]}
    if DB == "postgres":
        options = {} if PG_JIT == "default" else {"options": f"-c jit={PG_JIT}"}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DB_NAME,
            "USER": os.environ.get("BENCH_PG_USER", "postgres"),
            "HOST": HOST,
            "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
            "OPTIONS": options,
        }
    if DB == "mariadb":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": DB_NAME,
            "USER": os.environ.get("BENCH_MARIADB_USER", "root"),
            "PASSWORD": os.environ.get("BENCH_MARIADB_PASSWORD", ""),
            "HOST": HOST,
            "PORT": os.environ.get("BENCH_MARIADB_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    raise ValueError(f"BENCH_DB must be sqlite, postgres or mariadb, not {DB!r}")


DATABASES = {"default": database()}
INSTALLED_APPS = ["django.contrib.contenttypes"]
if IMPL in ("ours", "ours-idle", "ours-reads", "ours-floor", "upstream"):
    INSTALLED_APPS.append("bulk_tracker")
elif IMPL == "pghistory":
    INSTALLED_APPS += ["pgtrigger", "pghistory"]
    PGTRIGGER_INSTALL_ON_MIGRATE = True  # benchapp has no migrations: install its triggers after syncdb
INSTALLED_APPS.append("benchapp")

SECRET_KEY = "bulk-tracker-benchmarks"
USE_TZ = True
DEBUG = False  # no query log: its memory and time would be measured too
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING_CONFIG = None
