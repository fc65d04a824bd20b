"""DATABASES for a benchmark worker measuring one store (sqlite, postgres or redis):
PostgreSQL from the server tests/servers.py started (BENCH_PG_PORT, BENCH_PG_USER),
SQLite otherwise (the Redis store keeps its own tables in SQLite)."""

from __future__ import annotations

import os

#: SQLite in WAL mode: readers do not wait for the writer; writers wait up to 30 s.
WAL = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",  # writers beside the outbox's sender thread (grip_views.W006)
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
}


def databases(store: str, sqlite_name: str, sqlite_options: dict | None = None) -> dict:
    if store == "postgres":
        return {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": "127.0.0.1",
                "PORT": os.environ["BENCH_PG_PORT"],
                "USER": os.environ["BENCH_PG_USER"],
                "NAME": "postgres",
            }
        }
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_name,
            "OPTIONS": sqlite_options or {},
        }
    }
