"""The presence stores on SQLite, PostgreSQL and Redis: Phoenix semantics, expiry,
the debounce; each join and leave reported once to concurrent writer processes."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from grip_views.presence.database import DatabasePresence

from .presence_checks import check_store
from .test_history_stores import ROOT, _worker, pg_env, redis_env, sqlite_env  # noqa: F401 (fixtures)

WRITERS = 4
CONNECTIONS = 15


@pytest.mark.django_db
def test_sqlite_presence_store_joins_leaves_expires_and_debounces():
    check_store(DatabasePresence())


def test_postgres_presence_store_joins_leaves_expires_and_debounces(pg_env):  # noqa: F811
    assert _worker(pg_env, "presence-check").strip() == "ok"


def test_redis_presence_store_joins_leaves_expires_and_debounces(redis_env):  # noqa: F811
    assert _worker(redis_env, "presence-check").strip() == "ok"


@pytest.mark.parametrize("store", ["postgres", "redis", "sqlite"])
def test_one_member_joining_from_concurrent_processes_joins_once_and_leaves_once(store, request, tmp_path):
    env = request.getfixturevalue({"postgres": "pg_env", "redis": "redis_env", "sqlite": "sqlite_env"}[store])
    channel, go = f"race-{uuid.uuid4().hex[:8]}", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.history_worker",
                "presence-race",
                channel,
                str(CONNECTIONS),
                f"w{i}",
                go,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WRITERS)
    ]
    try:
        for proc in procs:  # every connection joined before any leaves
            assert proc.stdout.readline() == "joined\n", proc.stderr.read()[-3000:]
        go.touch()
        told = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            told.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    print(f"{store}: {WRITERS} processes x {CONNECTIONS} connections: [joins, leaves] {told}")
    assert sum(joins for joins, _ in told) == 1
    assert sum(leaves for _, leaves in told) == 1
