"""Publishing messages to GRIP proxies.

``publish()`` sends one item to every configured proxy. Blocking (the default)
sends it before returning and raises :class:`~grip_views.exceptions.PublishError`
naming each proxy and channel that failed. Non-blocking puts it on a bounded
queue that one background thread drains, many items per POST; failures are
logged with their channels, passed to ``GRIP_PUBLISH_ERROR_HANDLER`` and
counted, never dropped silently. Nothing is built or started before first use.
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import http.client
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol, Union
from urllib.parse import urlsplit

from django.core.signals import setting_changed
from django.dispatch import receiver

from .conf import Proxy, grip_settings, split_credentials
from .exceptions import PublishError, PublishFailure, PublishQueueFull
from .protocol.instructions import ChannelLike, as_channel, check_meta, json_default
from .protocol.signature import sign_hs256

logger = logging.getLogger(__name__)

#: Pushpin refuses publish bodies over 1,000,000 bytes; stay under it.
MAX_BODY = 900_000


class FormatLike(Protocol):
    """A gripcontrol/pubcontrol ``Format``: ``HttpStreamFormat`` and friends."""

    def name(self) -> str: ...

    def export(self) -> Any: ...


Formats = Union[FormatLike, Sequence[FormatLike], Mapping[str, Any]]


def export_formats(formats: Formats) -> dict[str, Any]:
    """``{format name: exported format}`` from one format, a list, or that dict itself."""
    if isinstance(formats, Mapping):
        return dict(formats)
    if hasattr(formats, "name") and hasattr(formats, "export"):
        formats = [formats]  # type: ignore[list-item]
    out: dict[str, Any] = {}
    for fmt in formats:  # type: ignore[union-attr]
        name = fmt.name()
        if name in out:
            raise ValueError(f"more than one {name!r} format in one publish")
        out[name] = fmt.export()
    if not out:
        raise ValueError("a publish needs at least one format")
    return out


def make_item(
    channel: ChannelLike,
    formats: Formats,
    *,
    prefix: str | None = None,
    meta: Mapping[str, str] | None = None,
    id: str | None = None,
    prev_id: str | None = None,
    no_seq: bool = False,
) -> dict[str, Any]:
    """The JSON-ready item a proxy's ``/publish/`` endpoint takes (prefix applied once).

    ``no_seq``: deliver at once, even out of ``prev_id`` order (Pushpin holds
    an item whose ``prev_id`` is not the channel's last id for up to 5 s,
    waiting for the one before it).
    """
    name = as_channel(channel).name
    item: dict[str, Any] = {
        "channel": (grip_settings.prefix if prefix is None else prefix) + name,
        "formats": export_formats(formats),
    }
    if id is not None:
        item["id"] = str(id)
    if prev_id is not None:
        item["prev-id"] = str(prev_id)
    if meta:
        item["meta"] = check_meta(meta, "publish meta")
    if no_seq:
        item["no-seq"] = True
    return item


def filter_meta(
    meta: Mapping[str, str] | None,
    *,
    sender: str | None = None,
    skip_users: Iterable[str] | None = None,
    require_sub: ChannelLike | None = None,
    prefix: str | None = None,
) -> Mapping[str, str] | None:
    """``meta`` with what Pushpin's filters read from a publish: ``sender``
    (skip-self), ``skip_users`` (skip-users, a comma list), ``require_sub``
    (require-sub, a channel, so ``GRIP_PREFIX`` is put before it)."""
    extra: dict[str, str] = {}
    if sender is not None:
        extra["sender"] = sender
    if skip_users is not None:
        users = [skip_users] if isinstance(skip_users, str) else list(skip_users)
        if any(not isinstance(u, str) or not u or "," in u or u != u.strip() for u in users):
            raise ValueError(f"skip_users must be user names without commas or edge spaces, got {users!r}")
        extra["skip_users"] = ",".join(users)
    if require_sub is not None:
        channel_prefix = grip_settings.prefix if prefix is None else prefix
        extra["require_sub"] = channel_prefix + as_channel(require_sub).name
    if not extra:
        return meta
    both = set(extra) & set(meta or ())
    if both:
        raise ValueError(f"{', '.join(sorted(both))} given both in meta and as an option: give it once")
    return {**(meta or {}), **extra}


def encode_item(item: Mapping[str, Any]) -> bytes:
    """One item as compact JSON, refusing one too large for any proxy."""
    data = json.dumps(item, separators=(",", ":"), default=json_default).encode()
    if len(data) > MAX_BODY:
        raise ValueError(
            f"publish to {item.get('channel')!r} is {len(data)} bytes: proxies refuse "
            f"bodies over 1,000,000 bytes"
        )
    return data


class Publisher:
    """Where published items go. Subclass it for another transport (see
    ``GRIP_PUBLISH_BACKEND``); :class:`grip_views.testing.InMemoryPublisher`
    keeps them in a list for tests."""

    def publish_items(self, items: Sequence[Mapping[str, Any]], blocking: bool = True) -> None:
        raise NotImplementedError

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued item was sent or reported; False on timeout."""
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush, then release connections and threads."""


class _Server:
    """One proxy's publish endpoint, its auth header, and a connection per thread."""

    def __init__(self, proxy: Proxy, timeout: float) -> None:
        assert proxy.control_uri
        uri, username, password = split_credentials(proxy.control_uri)
        if username is not None:  # a Proxy built by hand: the settings take them out already
            proxy = dataclasses.replace(proxy, control_uri=uri, username=username, password=password)
        self.proxy = proxy
        self.uri = uri  # never with credentials: it names the proxy in errors and logs
        parts = urlsplit(self.uri)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port
        self.path = parts.path.rstrip("/") + "/publish/" + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self._local = threading.local()
        self._token: tuple[str, float] | None = None

    def __repr__(self) -> str:
        return f"<proxy {self.uri}>"

    def _auth(self) -> str | None:
        """The Authorization header: the key's Bearer token, else Basic auth from the URI."""
        proxy = self.proxy
        if proxy.key is None:
            basic = proxy.basic_auth
            if basic is None:
                return None
            return "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode("ascii")
        if proxy.control_iss is None:
            key = proxy.key.decode() if isinstance(proxy.key, bytes) else proxy.key
            return f"Bearer {key}"
        now = time.time()
        if self._token is None or self._token[1] - now < 600:
            exp = int(now) + 3600
            self._token = (sign_hs256({"iss": proxy.control_iss, "exp": exp}, proxy.key), exp)
        return f"Bearer {self._token[0]}"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn  # type: ignore[no-any-return]

    def drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def post(self, body: bytes) -> tuple[int | None, str]:
        """POST a publish body; ``(status, reason)``, status None when unreachable."""
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        auth = self._auth()
        if auth:
            headers["Authorization"] = auth
        for attempt in (0, 1):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.request("POST", self.path, body, headers)
                resp = conn.getresponse()
                text = resp.read(2048).decode("utf-8", "replace").strip()
                if resp.will_close:
                    self.drop_connection()
                return resp.status, text or (resp.reason or "")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.drop_connection()
                if reused and attempt == 0:
                    continue  # a kept-alive connection the proxy had closed
                return None, f"{type(exc).__name__}: {exc}"
            except (OSError, http.client.HTTPException) as exc:
                self.drop_connection()
                return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None, "unreachable"  # pragma: no cover


class HttpPublisher(Publisher):
    """Publishes over HTTP to every proxy of ``GRIP_PROXIES``/``GRIP_URL``/``PUBLISH_SERVERS``."""

    def __init__(
        self,
        servers: Iterable[Proxy] | None = None,
        *,
        timeout: float | None = None,
        queue_size: int | None = None,
        batch_size: int | None = None,
        error_handler: Callable[[PublishFailure], Any] | None = None,
    ) -> None:
        """Each argument left out is read from its setting: ``GRIP_PROXIES`` /
        ``GRIP_URL`` / ``PUBLISH_SERVERS``, ``GRIP_PUBLISH_TIMEOUT``,
        ``GRIP_PUBLISH_QUEUE_SIZE``, ``GRIP_PUBLISH_BATCH_SIZE``,
        ``GRIP_PUBLISH_ERROR_HANDLER``."""
        if servers is None:
            servers = grip_settings.publish_servers
        if timeout is None:
            timeout = grip_settings.publish_timeout
        if queue_size is None:
            queue_size = grip_settings.publish_queue_size
        if batch_size is None:
            batch_size = grip_settings.publish_batch_size
        if error_handler is None:
            error_handler = grip_settings.publish_error_handler
        self.servers = [_Server(p, timeout) for p in servers if p.control_uri]
        self.timeout = timeout
        self.batch_size = batch_size
        self.error_handler = error_handler
        self.stats = {"queued": 0, "sent": 0, "failed": 0, "batches": 0}
        self._stats_lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=queue_size)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<HttpPublisher {[s.uri for s in self.servers]}>"

    # -- sending ---------------------------------------------------------------
    def send_batch(self, batch: Sequence[tuple[str, bytes]]) -> list[PublishFailure]:
        """Send one batch, ``(channel, encoded item)`` pairs (at most
        ``batch_size``, under ``MAX_BODY`` bytes), to every proxy; return the
        failures. Runs in the publishing thread (blocking) or the sender thread:
        a subclass for another transport overrides this and keeps the queue,
        the batching and the failure reporting."""
        if not self.servers:
            return [
                PublishFailure(
                    "(none)",
                    [c for c, _ in batch],
                    "no proxy to publish to: set GRIP_URL, GRIP_PROXIES with a "
                    "'control_uri', or PUBLISH_SERVERS",
                )
            ]
        body = b'{"items":[' + b",".join(data for _, data in batch) + b"]}"
        failures = []
        for server in self.servers:
            status, reason = server.post(body)
            if status is None or not 200 <= status < 300:  # 202 or 204 accepts it too
                failures.append(PublishFailure(server.uri, [c for c, _ in batch], reason, status))
        return failures

    def publish_items(self, items: Sequence[Mapping[str, Any]], blocking: bool = True) -> None:
        encoded = [(str(item["channel"]), encode_item(item)) for item in items]
        if blocking:
            failures: list[PublishFailure] = []
            for batch in self._batches(encoded):
                failures.extend(self.send_batch(batch))
            if failures:
                raise PublishError(failures)
            return
        self._ensure_worker()
        for entry in encoded:
            try:
                self._queue.put(entry, timeout=self.timeout)
            except queue.Full:
                failure = PublishFailure(
                    "(queue)",
                    [entry[0]],
                    f"the publish queue stayed full for {self.timeout} s "
                    "(raise GRIP_PUBLISH_QUEUE_SIZE, or is the proxy down?)",
                )
                raise PublishQueueFull([failure]) from None
            with self._stats_lock:  # callers publish from many threads at once
                self.stats["queued"] += 1

    def _batches(self, encoded: Sequence[tuple[str, bytes]]) -> Iterable[Sequence[tuple[str, bytes]]]:
        batch: list[tuple[str, bytes]] = []
        size = 0
        for entry in encoded:
            if batch and (len(batch) >= self.batch_size or size + len(entry[1]) > MAX_BODY):
                yield batch
                batch, size = [], 0
            batch.append(entry)
            size += len(entry[1]) + 1
        if batch:
            yield batch

    # -- the background sender --------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            return
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._closed = False
                self._worker = threading.Thread(target=self._run, name="grip-views-publisher", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        get = self._queue.get
        while True:
            first = get()
            if first is _STOP:
                self._queue.task_done()
                return
            batch = [first]
            size = len(first[1])
            stop = False
            while len(batch) < self.batch_size:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is _STOP:
                    stop = True
                    self._queue.task_done()
                    break
                if size + len(entry[1]) > MAX_BODY:
                    self._send_and_report(batch)
                    batch, size = [], 0
                batch.append(entry)
                size += len(entry[1]) + 1
            self._send_and_report(batch)
            if stop:
                return

    def _send_and_report(self, batch: list[tuple[str, bytes]]) -> None:
        try:
            failures = self.send_batch(batch)
        except Exception as exc:  # never let the sender thread die
            failures = [PublishFailure("(sender)", [c for c, _ in batch], repr(exc))]
        self.stats["batches"] += 1
        if failures:
            self.stats["failed"] += len(batch)
            for failure in failures:
                self._report(failure)
        else:
            self.stats["sent"] += len(batch)
        for _ in batch:
            self._queue.task_done()

    def _report(self, failure: PublishFailure) -> None:
        logger.error("grip_views: %s", failure)
        if self.error_handler is not None:
            try:
                self.error_handler(failure)
            except Exception:
                logger.exception("grip_views: GRIP_PUBLISH_ERROR_HANDLER raised")

    def flush(self, timeout: float | None = None) -> bool:
        q = self._queue
        deadline = None if timeout is None else time.monotonic() + timeout
        with q.all_tasks_done:
            while q.unfinished_tasks:
                if deadline is None:
                    q.all_tasks_done.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    q.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float | None = None) -> None:
        if self._worker is not None and self._worker.is_alive():
            if not self.flush(self.timeout * 2 if timeout is None else timeout):
                lost = self._queue.qsize()
                logger.error("grip_views: %d queued publish(es) were not sent before shutdown", lost)
            try:
                self._queue.put_nowait(_STOP)  # type: ignore[arg-type]
            except queue.Full:
                pass
        for server in self.servers:
            server.drop_connection()


_STOP: Any = object()

_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def get_publisher() -> Publisher:
    """The process's publisher, built from the settings on first use."""
    global _publisher
    pub: Publisher | None = _publisher
    if pub is None:
        with _publisher_lock:
            pub = _publisher
            if pub is None:
                pub = grip_settings.publish_backend()  # HttpPublisher reads its settings
                _publisher = pub
    return pub  # type: ignore[return-value]


def reset_publisher() -> None:
    """Flush and forget the publisher, so the next publish uses the current settings."""
    global _publisher
    with _publisher_lock:
        old, _publisher = _publisher, None
    if old is not None:
        old.close(timeout=1.0)


@receiver(setting_changed)
def _reset_on_change(*, setting: str, **kwargs: Any) -> None:
    # Registered after conf's receiver, so the new publisher reads fresh settings.
    if setting.startswith("GRIP_") or setting == "PUBLISH_SERVERS":
        reset_publisher()


def _after_fork() -> None:
    # The sender thread does not survive a fork: a worker process starts afresh.
    global _publisher
    _publisher = None


os.register_at_fork(after_in_child=_after_fork)


@atexit.register
def _flush_at_exit() -> None:
    if _publisher is not None:
        _publisher.close()


def publish(
    channel: ChannelLike,
    formats: Formats,
    id: str | None = None,
    prev_id: str | None = None,
    meta: Mapping[str, str] | None = None,
    *,
    sender: str | None = None,
    skip_users: Iterable[str] | None = None,
    require_sub: ChannelLike | None = None,
    no_seq: bool = False,
    blocking: bool = True,
    on_commit: bool = False,
    using: str | None = None,
    durable: bool = False,
) -> int | None:
    """Publish ``formats`` on ``channel`` (``GRIP_PREFIX`` is put before it).

    ``formats`` is a gripcontrol format (``HttpStreamFormat``,
    ``HttpResponseFormat``, ``WebSocketMessageFormat``) or a list of them, one
    per kind of subscriber. With ``on_commit=True`` the publish waits for the
    current transaction of database ``using`` to commit, and is dropped if it
    rolls back. Blocking publishes raise :class:`PublishError`; non-blocking
    ones report failures to the log and ``GRIP_PUBLISH_ERROR_HANDLER``.

    Pushpin's filters act on subscriptions that have them: ``sender`` is
    skipped by a ``skip-self`` subscription whose ``user`` it is,
    ``skip_users`` by ``skip-users`` subscriptions of those users,
    ``require_sub`` (a channel) reaches ``require-sub`` subscribers only if
    they are subscribed to it too (HTTP only on Pushpin 1.36). ``no_seq``
    delivers at once, even out of ``prev_id`` order.

    ``durable=True`` stores the event in the history (in the current
    transaction of ``using`` with the database store), sends it after the
    commit with its id and ``prev-id``, and retries until the proxy accepts it
    (see :mod:`grip_views.durable`); it returns the event's id. ``id`` and
    ``prev_id`` are then the store's to assign.
    """
    meta = filter_meta(meta, sender=sender, skip_users=skip_users, require_sub=require_sub)
    if durable:
        if id is not None or prev_id is not None:
            raise ValueError("a durable publish gets its id from the history store: drop id= and prev_id=")
        from .durable import publish_durable

        # Bad input fails here, before anything is stored: the formats, the meta, and
        # the channel in publish_durable (the store encodes the payload as JSON).
        payload: dict[str, Any] = {"formats": export_formats(formats)}
        if meta:
            payload["meta"] = check_meta(meta, "publish meta")
        return publish_durable(channel, payload, using=using)
    # Build the item now, so bad input fails in the caller, not in a callback.
    item = make_item(channel, formats, id=id, prev_id=prev_id, meta=meta, no_seq=no_seq)
    send = partial(_publish_item, item, blocking)
    if on_commit:
        from django.db import transaction

        transaction.on_commit(send, using=using)
    else:
        send()
    return None


def _publish_item(item: dict[str, Any], blocking: bool) -> None:
    get_publisher().publish_items([item], blocking=blocking)


def flush(timeout: float | None = None) -> bool:
    """Wait until every non-blocking publish was sent or reported; False on timeout."""
    return get_publisher().flush(timeout)
