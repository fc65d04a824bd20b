"""The presence store in Redis (``GRIP_PRESENCE_BACKEND = "redis"``), with redis-py.

Each change is one Lua script, so Redis runs it alone: a ``join`` or a
``leave`` is reported by exactly one caller however many processes share the
server. The server and the key prefix are the history's
(``GRIP_HISTORY_REDIS_URL``, ``GRIP_HISTORY_REDIS_PREFIX``), keys under
``<prefix>presence:``. The scripts build their keys from a channel name, so
they run on one Redis server (not a Redis Cluster).

Per channel ``<ch>``: ``E:<ch>`` connection -> member, ``I:<ch>`` connection
-> info (JSON), ``X:<ch>`` connections by expiry, ``M:<ch>`` the announced
members, ``C:<len>:<ch>:<member>`` a member's connections. ``K:<connection>``
the channels of a connection; ``exp`` channels by their earliest expiry,
``occ`` the occupied channels, ``vacant`` the empty ones by since when.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..history.redis_store import _import_redis
from .base import Change, Member, PresenceBackend

__all__ = ["RedisPresence"]

_COMMON = """
local p = ARGV[1]
local function ckey(ch, m) return p .. 'C:' .. #ch .. ':' .. ch .. ':' .. m end
local function drop(ch, c, m)
  redis.call('HDEL', p .. 'E:' .. ch, c)
  redis.call('HDEL', p .. 'I:' .. ch, c)
  redis.call('ZREM', p .. 'X:' .. ch, c)
  redis.call('SREM', p .. 'K:' .. c, ch)
  redis.call('SREM', ckey(ch, m), c)
end
-- The member's leave, if it has no live connection left: {ch, m, info, count} appended to out.
local function settle(ch, m, info, now, out)
  local conns = redis.call('SMEMBERS', ckey(ch, m))
  for _, c in ipairs(conns) do
    local s = redis.call('ZSCORE', p .. 'X:' .. ch, c)
    if s and tonumber(s) > now then return end
  end
  for _, c in ipairs(conns) do drop(ch, c, m) end
  if redis.call('HDEL', p .. 'M:' .. ch, m) == 1 then
    local count = redis.call('HLEN', p .. 'M:' .. ch)
    if count == 0 then redis.call('ZADD', p .. 'vacant', now, ch) end
    table.insert(out, ch); table.insert(out, m); table.insert(out, info); table.insert(out, count)
  end
end
"""

_JOIN = (
    _COMMON
    + """
local ch, m, c, info, exp = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
redis.call('HSET', p .. 'E:' .. ch, c, m)
redis.call('HSET', p .. 'I:' .. ch, c, info)
redis.call('ZADD', p .. 'X:' .. ch, exp, c)
redis.call('SADD', ckey(ch, m), c)
redis.call('SADD', p .. 'K:' .. c, ch)
redis.call('ZADD', p .. 'exp', 'LT', exp, ch)
if redis.call('HSETNX', p .. 'M:' .. ch, m, 1) == 0 then return {0, 0, 0} end
redis.call('ZREM', p .. 'vacant', ch)
return {1, redis.call('HLEN', p .. 'M:' .. ch), redis.call('HSETNX', p .. 'occ', ch, 1)}
"""
)

_REFRESH = """
local p, c, exp, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local n = 0
for _, ch in ipairs(redis.call('SMEMBERS', p .. 'K:' .. c)) do
  local s = redis.call('ZSCORE', p .. 'X:' .. ch, c)
  if s and tonumber(s) > now then
    redis.call('ZADD', p .. 'X:' .. ch, exp, c)
    n = n + 1
  end
end
return n
"""

_LEAVE = (
    _COMMON
    + """
local c, now = ARGV[2], tonumber(ARGV[3])
local out = {}
for _, ch in ipairs(redis.call('SMEMBERS', p .. 'K:' .. c)) do
  local m = redis.call('HGET', p .. 'E:' .. ch, c)
  local info = redis.call('HGET', p .. 'I:' .. ch, c)
  if m then
    drop(ch, c, m)
    settle(ch, m, info or '{}', now, out)
  end
end
redis.call('DEL', p .. 'K:' .. c)
return out
"""
)

_EXPIRE = (
    _COMMON
    + """
local now, cutoff = tonumber(ARGV[2]), ARGV[3]
local out = {}
for _, ch in ipairs(redis.call('ZRANGEBYSCORE', p .. 'exp', '-inf', ARGV[2])) do
  local gone = {}
  for _, c in ipairs(redis.call('ZRANGEBYSCORE', p .. 'X:' .. ch, '-inf', ARGV[2])) do
    local m = redis.call('HGET', p .. 'E:' .. ch, c)
    if m then
      gone[m] = redis.call('HGET', p .. 'I:' .. ch, c) or '{}'
      drop(ch, c, m)
    else
      redis.call('ZREM', p .. 'X:' .. ch, c)
    end
  end
  for m, info in pairs(gone) do settle(ch, m, info, now, out) end
  local first = redis.call('ZRANGE', p .. 'X:' .. ch, 0, 0, 'WITHSCORES')
  if first[2] then redis.call('ZADD', p .. 'exp', first[2], ch) else redis.call('ZREM', p .. 'exp', ch) end
end
local vacated = {}
for _, ch in ipairs(redis.call('ZRANGEBYSCORE', p .. 'vacant', '-inf', cutoff)) do
  redis.call('ZREM', p .. 'vacant', ch)
  if redis.call('HDEL', p .. 'occ', ch) == 1 then table.insert(vacated, ch) end
end
return {out, vacated}
"""
)


class RedisPresence(PresenceBackend):
    """Presence in Redis at ``url``, keys under ``prefix + "presence:"``."""

    #: Connects to ``GRIP_HISTORY_REDIS_URL`` (checked by ``manage.py check``).
    uses_redis = True

    def __init__(self, url: str, prefix: str = "grip:") -> None:
        redis = _import_redis()
        self.url = url
        self.prefix = prefix + "presence:"
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._join = self.client.register_script(_JOIN)
        self._refresh = self.client.register_script(_REFRESH)
        self._leave = self.client.register_script(_LEAVE)
        self._expire = self.client.register_script(_EXPIRE)

    def __repr__(self) -> str:
        return f"<RedisPresence {self.prefix!r}>"

    def _add_entry(
        self, channel: str, member: str, connection: str, info: Mapping[str, Any], expires_at: float
    ) -> tuple[int, bool] | None:
        data = json.dumps(dict(info), separators=(",", ":"))
        joined, count, occupied = self._join(
            args=[self.prefix, channel, member, connection, data, repr(expires_at)]
        )
        return (int(count), bool(occupied)) if joined else None

    def refresh(self, connection: str, expires_at: float, now: float) -> int:
        return int(self._refresh(args=[self.prefix, connection, repr(expires_at), repr(now)]))

    @staticmethod
    def _leaves(flat: list[Any]) -> list[Change]:
        changes = []
        for i in range(0, len(flat), 4):
            channel, member, info, count = flat[i : i + 4]
            changes.append(
                Change("leave", channel.decode(), Member(member.decode(), json.loads(info), 0), int(count))
            )
        return changes

    def leave(self, connection: str, now: float) -> list[Change]:
        return self._leaves(self._leave(args=[self.prefix, connection, repr(now)]))

    def expire(self, now: float, debounce: float) -> list[Change]:
        left, vacated = self._expire(args=[self.prefix, repr(now), repr(now - debounce)])
        return [*self._leaves(left), *(Change("vacated", ch.decode()) for ch in vacated)]

    def members(self, channel: str, now: float) -> list[Member]:
        live = self.client.zrangebyscore(self.prefix + "X:" + channel, f"({now!r}", "+inf")
        if not live:
            return []
        pipe = self.client.pipeline(transaction=True)
        pipe.hmget(self.prefix + "E:" + channel, live)
        pipe.hmget(self.prefix + "I:" + channel, live)
        keys, infos = pipe.execute()
        found: dict[str, list[Any]] = {}
        for key, info in zip(keys, infos, strict=True):
            if key is None:
                continue  # left between the two reads
            seen = found.setdefault(key.decode(), [info, 0])
            seen[1] += 1
        return [Member(key, json.loads(info or b"{}"), n) for key, (info, n) in sorted(found.items())]

    def count(self, channel: str, now: float) -> int:
        return len(self.members(channel, now))
