"""The history stores: ids, replay, resets, trimming and the outbox, on SQLite,
PostgreSQL and Redis; ids from concurrent writer processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from grip_views.history.database import DatabaseHistory

from .history_checks import check_store

ROOT = Path(__file__).resolve().parent.parent
WRITERS = 4
APPENDS = 30


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_history", **extra}


def _worker(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.history_worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def pg_env(postgres_server):
    env = _env(GV_DB="postgres", GV_PG_PORT=str(postgres_server.port), GV_PG_USER=postgres_server.role)
    _worker(env, "migrate")
    return env


@pytest.fixture
def redis_env(redis_server):
    prefix = f"t{uuid.uuid4().hex[:6]}:"
    return _env(GV_HISTORY="redis", GV_REDIS_URL=redis_server.url, GV_REDIS_PREFIX=prefix)


@pytest.fixture
def sqlite_env(tmp_path):
    env = _env(GV_DB=str(tmp_path / "history.sqlite3"))
    _worker(env, "migrate")
    return env


@pytest.mark.django_db
def test_sqlite_store_numbers_replays_resets_trims_and_keeps_unsent():
    check_store(DatabaseHistory())


def test_postgres_store_numbers_replays_resets_trims_and_keeps_unsent(pg_env):
    assert _worker(pg_env, "check").strip() == "ok"


def test_redis_store_numbers_replays_resets_trims_and_keeps_unsent(redis_env):
    assert _worker(redis_env, "check").strip() == "ok"


@pytest.mark.parametrize("store", ["postgres", "redis", "sqlite"])
def test_concurrent_writer_processes_get_every_id_once_in_growing_order(store, request):
    env = request.getfixturevalue({"postgres": "pg_env", "redis": "redis_env", "sqlite": "sqlite_env"}[store])
    channel = f"race-{uuid.uuid4().hex[:8]}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.history_worker", "append", channel, str(APPENDS)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WRITERS)
    ]
    per_process = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        per_process.append(json.loads(out))
    every = sorted(i for ids in per_process for i in ids)
    print(f"{store}: {WRITERS} processes appended {len(every)} events to one channel")
    assert every == list(range(1, WRITERS * APPENDS + 1))  # no id twice, no hole
    for ids in per_process:
        assert ids == sorted(ids)  # each writer saw its ids grow


def test_on_sqlite_a_sender_given_the_lease_by_the_append_sends_while_a_request_holds_the_write_lock(
    sqlite_env,
):
    """SQLite has one writer at a time, and during a burst the requests' transactions hold
    the lock nearly always: a drain that must take the lease first waits for them, one
    given it by the append (``holder``) reads and sends at once and writes once, after."""
    out = json.loads(_worker(sqlite_env, "beside-a-writer", f"w-{uuid.uuid4().hex[:6]}"))
    assert out["None"] == "database is locked"  # taking the lease waited for the writer
    assert out["the-thread"] == 3  # sent, then marked and released once the writer let go


def test_on_sqlite_a_holder_s_drain_does_not_wait_for_a_writer_to_mark_and_goes_on_after_what_it_sent(
    sqlite_env,
):
    """During a burst the sender thread would wait for every request's transaction
    before it could mark a batch sent: a holder's drain returns instead, the marks
    kept (``drain_unfinished``), and its next drain writes them and sends only what is new."""
    out = json.loads(_worker(sqlite_env, "busy-drain", f"b-{uuid.uuid4().hex[:6]}"))
    assert out["busy"] == 3  # sent, and returned while the writer held the lock
    assert out["pending_while_busy"] is True
    assert out["unsent_while_busy"] == [1, 2, 3]  # not marked: nothing was written
    assert out["busy_timeout_after"] == 200  # the connection's own timeout is back
    assert out["free"] == 1 and out["sent"] == [[1, 2, 3], [4]]  # 1-3 are not sent again
    assert out["pending_after"] is False
    assert out["unsent_after"] == []
    assert out["lease_free"] is True  # released with the marks


def test_on_sqlite_the_sender_thread_is_idle_only_once_it_wrote_the_marks_a_writer_kept_it_from(
    sqlite_env,
):
    out = json.loads(_worker(sqlite_env, "sender-beside-a-writer", f"s-{uuid.uuid4().hex[:6]}"))
    assert out["sent"] == ["1", "2", "3"]  # once: the retries send nothing again
    assert out["idle_while_busy"] is False  # the channel stays due while its marks wait
    assert out["unsent_while_busy"] == 3
    assert out["idle_after"] is True
    assert out["unsent_after"] == 0


@pytest.mark.parametrize(
    ("settings_", "check_id", "named"),
    [
        ({"GRIP_HISTORY_BACKEND": "nowhere.Store"}, "grip_views.E009", "GRIP_HISTORY_BACKEND"),
        (
            {"GRIP_HISTORY_BACKEND": "redis", "GRIP_HISTORY_REDIS_URL": "http://x"},
            "grip_views.E009",
            "GRIP_HISTORY_REDIS_URL",
        ),
        ({"GRIP_HISTORY_MAX_EVENTS": 0}, "grip_views.E010", "GRIP_HISTORY_MAX_EVENTS"),
        ({"GRIP_HISTORY_MAX_AGE": "1d"}, "grip_views.E010", "GRIP_HISTORY_MAX_AGE"),
        ({"GRIP_HISTORY_DATABASE": "other"}, "grip_views.E010", "GRIP_HISTORY_DATABASE"),
    ],
)
def test_a_bad_history_setting_is_a_system_check_error_naming_it(settings, settings_, check_id, named):
    from grip_views.checks import check_history

    for name, value in settings_.items():
        setattr(settings, name, value)
    messages = check_history()
    assert [m.id for m in messages] == [check_id]
    assert named in messages[0].msg and messages[0].hint


def test_default_history_settings_pass_the_checks():
    from grip_views.checks import check_history

    assert check_history() == []


@pytest.mark.django_db
def test_trim_command_drops_old_sent_events_and_says_how_many(capsys):
    from django.core.management import call_command

    store = DatabaseHistory()
    for _ in range(5):
        store.append("trim-me", {"sse": "data: x\n\n"})
    with store.sending("trim-me"):
        store.mark_sent("trim-me", [1, 2, 3, 4])
    call_command("grip_history_trim", "--max-events", "2")
    assert "dropped 3 event(s)" in capsys.readouterr().out  # the newest 2 are kept, and 5 is unsent
    assert [e.id for e in store.read("trim-me", 3).events] == [4, 5]
    assert store.read("trim-me", 2).reset
