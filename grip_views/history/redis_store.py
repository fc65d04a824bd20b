"""The history store in Redis (``GRIP_HISTORY_BACKEND = "redis"``), with redis-py.

Each append is one Lua script (``INCR`` of the channel's counter and the
event's ``ZADD``), so ids only grow and have no holes however many processes
write, and a reader never sees id N+1 without N. Redis is not in the
database's transaction: a durable publish is appended after the commit
(see the README's "Delivery guarantees").

Keys, under ``GRIP_HISTORY_REDIS_PREFIX`` (``grip:`` by default):
``seq:<ch>`` the last id, ``ev:<ch>`` the events (a sorted set by id),
``unsent:<ch>`` ids not yet accepted by every proxy, ``unsent`` and
``channels`` the sets of channels, ``lock:<ch>`` the send lock.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..exceptions import GripConfigurationError
from .base import HistoryBackend, Replay, StoredEvent, encode_payload

__all__ = ["RedisHistory"]

_APPEND = """
local seq = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local now = string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000)
redis.call('ZADD', KEYS[2], seq, '{"id":' .. seq .. ',"t":' .. now .. ',"p":' .. ARGV[1] .. '}')
redis.call('ZADD', KEYS[3], seq, seq)
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[2])
return seq
"""

_MARK_SENT = """
for i = 2, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise GripConfigurationError(
            "GRIP_HISTORY_BACKEND = 'redis' needs redis-py: pip install 'grip-views[redis]'"
        ) from exc
    return redis


class RedisHistory(HistoryBackend):
    """Events in Redis at ``url`` (``GRIP_HISTORY_REDIS_URL``)."""

    transactional = False
    #: Connects to ``GRIP_HISTORY_REDIS_URL`` (checked by ``manage.py check``).
    uses_redis = True
    #: Seconds a send lock lives if its holder died while holding it.
    lock_ttl = 30.0

    def __init__(self, url: str, prefix: str = "grip:") -> None:
        redis = _import_redis()
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._append = self.client.register_script(_APPEND)
        self._mark = self.client.register_script(_MARK_SENT)
        self._unlock = self.client.register_script(_UNLOCK)

    def __repr__(self) -> str:
        return f"<RedisHistory {self.prefix!r}>"

    def _key(self, kind: str, channel: str | None = None) -> str:
        return self.prefix + kind + ("" if channel is None else ":" + channel)

    def append(
        self, channel: str, payload: Mapping[str, Any], *, using: str | None = None, holder: str | None = None
    ) -> int:
        data = encode_payload(payload)
        keys = [
            self._key("seq", channel),
            self._key("ev", channel),
            self._key("unsent", channel),
            self._key("unsent"),
            self._key("channels"),
        ]
        return int(self._append(keys=keys, args=[data, channel]))

    def last_id(self, channel: str) -> int:
        return int(self.client.get(self._key("seq", channel)) or 0)

    def _events(self, raw: Sequence[bytes], channel: str) -> list[StoredEvent]:
        out = []
        for member in raw:
            item = json.loads(member)
            out.append(StoredEvent(channel, int(item["id"]), item["p"], float(item["t"])))
        return out

    def read(self, channel: str, after: int, limit: int | None = None) -> Replay:
        last = self.last_id(channel)
        if after > last:
            return Replay(channel, after, last, reset=True)
        if after == last:
            return Replay(channel, after, last)
        raw = self.client.zrangebyscore(
            self._key("ev", channel), f"({after}", "+inf", start=0, num=limit if limit else -1
        )
        events = self._events(raw, channel)
        if not events or events[0].id != after + 1:
            return Replay(channel, after, last, reset=True)
        return Replay(channel, after, last, tuple(events))

    def trim(self, max_events: int | None = None, max_age: float | None = None) -> int:
        dropped = 0
        cutoff = None if max_age is None else time.time() - max_age
        for name in self.client.smembers(self._key("channels")):
            channel = name.decode()
            key = self._key("ev", channel)
            unsent = self.client.zrange(self._key("unsent", channel), 0, 0, withscores=True)
            keep_from = int(unsent[0][1]) if unsent else None  # never drop an unsent event
            upto = -1
            if max_events is not None:
                upto = self.last_id(channel) - max_events
            if cutoff is not None:
                for event in self._events(self.client.zrange(key, 0, 9999), channel):
                    if event.created >= cutoff:
                        break
                    upto = max(upto, event.id)
            if keep_from is not None:
                upto = min(upto, keep_from - 1)
            if upto > 0:
                dropped += int(self.client.zremrangebyscore(key, "-inf", upto))
        return dropped

    # -- the outbox ------------------------------------------------------------------
    def unsent_channels(self) -> list[str]:
        return sorted(n.decode() for n in self.client.smembers(self._key("unsent")))

    @contextmanager
    def sending(self, channel: str) -> Iterator[None]:
        key, token = self._key("lock", channel), uuid.uuid4().hex
        delay = 0.002
        while not self.client.set(key, token, nx=True, px=int(self.lock_ttl * 1000)):
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            self._unlock(keys=[key], args=[token])

    def unsent(self, channel: str, limit: int) -> list[StoredEvent]:
        ids = [int(i) for i in self.client.zrange(self._key("unsent", channel), 0, limit - 1)]
        if not ids:
            return []
        raw = self.client.zrangebyscore(self._key("ev", channel), ids[0], ids[-1])
        wanted = set(ids)
        return [e for e in self._events(raw, channel) if e.id in wanted]

    def mark_sent(self, channel: str, ids: Sequence[int]) -> None:
        self._mark(keys=[self._key("unsent", channel), self._key("unsent")], args=[channel, *ids])
