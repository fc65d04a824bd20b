"""Durable publishes: stored with the change that caused them, sent after the commit.

``publish(..., durable=True)`` (and the views' ``publish*`` methods of a class
with ``durable = True``) end here. The event is appended to the history store
(:func:`grip_views.history.get_history`) inside the caller's transaction when
the store is the database, and sent after the commit with ``id`` and
``prev-id``, so the proxy orders events and notices gaps.

After the commit, the process's sender thread sends them (``GRIP_OUTBOX_THREAD``):
the commit does not wait for the proxy, and what commits while a batch is on
its way, or within :data:`LINGER` of the last batch, goes out in the next
batch, up to :data:`BATCH` events per request.
Sending is per channel, under the channel's send lease, oldest unsent event
first: one channel's events reach the proxy in id order, whichever process
sends them. An event is marked sent once every proxy accepted it. A failure
is logged (and given to ``GRIP_PUBLISH_ERROR_HANDLER``) and retried by the
process's sender thread with exponential backoff up to
``GRIP_OUTBOX_RETRY_MAX`` seconds, never dropped. What a process left unsent
(it crashed, or the proxy was down when it exited) is sent by the next one:
on its first durable publish or durable view request, or by
``manage.py grip_outbox``. A process that exits normally first gives its
thread :data:`EXIT_WAIT` seconds to send what is due.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Mapping
from functools import partial
from typing import Any

from django.db import connections, transaction

from .exceptions import PublishFailure
from .history import get_history, history_settings
from .history.base import StoredEvent, encode_payload
from .protocol.instructions import ChannelLike, as_channel

__all__ = ["OutboxSender", "get_sender", "publish_durable", "send_channel", "send_unsent"]

logger = logging.getLogger(__name__)

#: Events sent per publish request (Pushpin takes items in order).
BATCH = 200
#: Seconds a process exiting waits for its sender thread to send what is due.
EXIT_WAIT = 5.0
#: Seconds the sender thread waits after a send before it sends the same channel
#: again: a channel published to steadily goes out in batches (one request, one
#: lease and one ``mark_sent`` for many events), while an event after a quiet
#: spell goes at once. Pays: bench l, "1 per transaction" (see bench/README.md).
LINGER = 0.002
#: LINGER for a channel whose drain stopped short of a write that would have
#: waited for the requests' writers (``drain_unfinished``: SQLite during a
#: burst): the thread drains it again this soon, commit or not, and no sooner,
#: so a burst goes in fewer, bigger batches. Pays: bench l, "delivery under a
#: sustained burst" (see bench/README.md).
BUSY_LINGER = 0.02


def publish_durable(
    channel: ChannelLike, payload: Mapping[str, Any], *, using: str | None = None
) -> int | None:
    """Store ``payload`` (see :mod:`grip_views.history.base`) on ``channel``, send it after commit.

    The event's id, or None when the store is not transactional and the
    caller is inside a transaction (it gets its id when appended after the commit).
    """
    name = as_channel(channel).name
    store = get_history()
    sender = get_sender()
    sender.sweep_once()
    if store.transactional:
        # With the sender thread, the append may give it the channel's lease, and
        # the commit then wakes the thread (read once: a send without the thread
        # would wait for that lease).
        threaded = history_settings.outbox_thread
        holder = sender.token if threaded else None
        event_id = store.append(name, payload, using=using, holder=holder)
        transaction.on_commit(partial(sender.after_commit, name, threaded=threaded), using=using)
        return event_id
    if transaction.get_connection(using).in_atomic_block:
        encode_payload(payload)  # what the store could not keep fails here, not after the commit
        transaction.on_commit(partial(_append_then_send, name, dict(payload)), using=using)
        return None
    return _append_then_send(name, payload)


def _append_then_send(channel: str, payload: Mapping[str, Any]) -> int:
    try:
        event_id = get_history().append(channel, payload)
    except Exception:
        logger.exception("grip_views: a durable publish on %r could not be stored after the commit", channel)
        raise
    get_sender().after_commit(channel)
    return event_id


def send_channel(channel: str, *, holder: str | None = None) -> int:
    """Send every unsent event of ``channel``, oldest first; how many were sent.

    ``holder`` is for the process's sender thread alone: its token, which the
    process's appends may have given the channel's lease (one sender per token).
    Raises :class:`~grip_views.PublishError` when a proxy did not accept a
    batch: it and the events after it stay unsent.
    """
    from .conf import grip_settings
    from .publishing import get_publisher

    publisher = get_publisher()
    name = grip_settings.prefix + channel

    def send(events: list[StoredEvent]) -> None:
        # The items as make_item() builds them: channel, formats and meta were
        # checked when the event was published.
        items = []
        for event in events:
            item = {"channel": name, "formats": event.formats(), "id": str(event.id)}
            item["prev-id"] = str(event.id - 1)
            meta = event.payload.get("meta")
            if meta:
                item["meta"] = meta
            items.append(item)
        publisher.publish_items(items, blocking=True)

    return get_history().drain(channel, BATCH, send, holder=holder)


def send_unsent() -> int:
    """Send what every channel has unsent (``manage.py grip_outbox`` does this in a loop).

    Raises the first channel's failure after trying every channel.
    """
    sent = 0
    error: Exception | None = None
    for channel in get_history().unsent_channels():
        try:
            sent += send_channel(channel)
        except Exception as exc:
            error = error or exc
    if error is not None:
        raise error
    return sent


class OutboxSender:
    """The process's sender: sends each channel's events after their commit, in a
    thread of its own (``GRIP_OUTBOX_THREAD``), and retries failures with backoff."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}  # channel -> when to try next ("" = look for orphans)
        self._busy: set[str] = set()  # channels the thread is sending now
        self._attempts: dict[str, int] = {}  # channel -> failed tries in a row
        self._lingering: dict[str, float] = {}  # channel -> not sent again before (LINGER)
        self._thread: threading.Thread | None = None
        self._swept = False
        self.stats = {"sent": 0, "failed_tries": 0}
        #: The thread's send-lease token: the process's appends give it the
        #: channel's lease (``HistoryBackend.append(holder=)``); new in every
        #: process, since a forked child gets a new sender.
        self.token = uuid.uuid4().hex

    def after_commit(self, channel: str, *, threaded: bool | None = None) -> None:
        """``channel`` has new committed events: send them.

        With the sender thread (``threaded``, ``GRIP_OUTBOX_THREAD`` by default)
        this only wakes it, so the commit goes on at once and what commits while
        a batch is on its way goes out in the next one. Otherwise the events are
        sent here, before the caller goes on. A failure is left to the thread's
        retries either way.
        """
        if threaded is None:
            threaded = history_settings.outbox_thread
        if threaded:
            with self._cond:
                # A failing channel keeps its backoff; one just sent waits out LINGER.
                # One already due needs no wake-up: the thread wakes for it (each
                # commit of a burst woke it for nothing; bench l, "delivery under a
                # sustained burst", one per transaction).
                if channel not in self._due:
                    self._due[channel] = self._lingering.get(channel, 0.0)
                    self._cond.notify()
            self._ensure_thread()
            return
        with self._cond:
            if channel in self._due:  # already failing: keep the backoff, and the order
                self._cond.notify()
                return
        try:
            sent = send_channel(channel)
        except Exception as exc:
            self._failed(channel, exc)
        else:
            self._count_sent(sent)

    def _count_sent(self, sent: int) -> None:
        # Under the lock: request threads and the sender thread add at once, and
        # ``stats["sent"] += send_channel(...)`` would read the old count before
        # the send and lose what another thread added meanwhile.
        with self._cond:
            self.stats["sent"] += sent

    def sweep_once(self) -> None:
        """Once per process: schedule every channel left unsent (by a process that died)."""
        if self._swept:
            return
        self._swept = True
        self._ensure_thread()
        with self._cond:
            self._due.setdefault("", 0.0)  # "" means: look for unsent channels
            self._cond.notify()

    def pending(self) -> int:
        """Channels with events to send or being sent (waiting for a retry, too)."""
        with self._cond:
            return len(self._channels())

    def _channels(self) -> set[str]:
        # Under the lock: every channel due or being sent, without "" (the look for orphans).
        return (self._due.keys() | self._busy) - {""}

    def wait_idle(self, timeout: float, *, orphans: bool = True) -> bool:
        """Wait until every channel's events were sent; False on timeout.

        For tests and scripts that must know the proxy accepted what they
        published: a request does not need it (the events are stored). With
        ``orphans``, also wait for the look for what dead processes left.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._due or self._busy) if orphans else self._channels():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _failed(self, channel: str, exc: Exception) -> None:
        with self._cond:
            attempt = self._attempts.get(channel, 0) + 1
            self._attempts[channel] = attempt
            delay = min(0.1 * 2 ** (attempt - 1), history_settings.outbox_retry_max)
            delay *= random.uniform(0.8, 1.2)  # jitter: senders of many processes spread out
            self._due[channel] = time.monotonic() + delay
            self.stats["failed_tries"] += 1
            self._cond.notify_all()
        logger.error(
            "grip_views: durable publish on %r not accepted (try %d), retrying in %.1f s: %s",
            channel,
            attempt,
            delay,
            exc,
        )
        self._report(channel, exc)
        self._ensure_thread()

    def _report(self, channel: str, exc: Exception) -> None:
        from .conf import grip_settings

        handler = grip_settings.publish_error_handler
        if handler is None:
            return
        failures = getattr(exc, "failures", None) or [PublishFailure("(outbox)", [channel], repr(exc))]
        for failure in failures:
            try:
                handler(failure)
            except Exception:
                logger.exception("grip_views: GRIP_PUBLISH_ERROR_HANDLER raised")

    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():  # every commit asks: no lock then
            return
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="grip-views-outbox", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    due = [c for c, at in self._due.items() if at <= now]
                    if due:
                        break
                    wait = min(self._due.values(), default=now + 60) - now
                    self._cond.wait(max(wait, 0.001))
                for channel in due:  # a commit from now on schedules the channel again
                    del self._due[channel]
                self._busy.update(due)
            try:
                for channel in due:
                    self._try(channel)
            finally:
                with self._cond:
                    self._busy.difference_update(due)
                    self._cond.notify_all()

    def _try(self, channel: str) -> None:
        try:
            if channel == "":
                channels = get_history().unsent_channels()
                with self._cond:
                    for name in channels:
                        self._due.setdefault(name, 0.0)
                if channels:
                    logger.info("grip_views: %d channel(s) have unsent durable events", len(channels))
                return
            sent = send_channel(channel, holder=self.token)
            if get_history().drain_unfinished(channel, self.token):
                # The requests hold the database: a burst. Its next drain, which
                # finishes this one, waits longer, so it sends more at a time; the
                # commits meanwhile find the channel due and leave it so.
                with self._cond:
                    self._due[channel] = max(self._due.get(channel, 0.0), time.monotonic() + BUSY_LINGER)
            elif sent:
                self._linger(channel)
        except Exception as exc:
            connections.close_all()  # this thread's: a connection a database restart broke
            if channel == "":
                logger.exception("grip_views: could not look for unsent durable events")
                with self._cond:
                    self._due[""] = time.monotonic() + history_settings.outbox_retry_max
                return
            self._failed(channel, exc)
            return
        self._count_sent(sent)
        with self._cond:
            attempts = self._attempts.pop(channel, 0)
        if attempts:
            logger.warning(
                "grip_views: durable publish on %r accepted after %d failed tries (%d sent)",
                channel,
                attempts,
                sent,
            )

    def _linger(self, channel: str) -> None:
        now = time.monotonic()
        with self._cond:
            if len(self._lingering) > 1000:  # forget the channels that are quiet again
                self._lingering = {c: at for c, at in self._lingering.items() if at > now}
            self._lingering[channel] = now + LINGER

    def flush_at_exit(self, timeout: float) -> None:
        """At the interpreter's exit: give the thread ``timeout`` seconds to send what
        is due; what it could not is logged (the next process or ``grip_outbox`` sends it)."""
        if self._thread is None or not self._thread.is_alive():
            return
        with self._cond:
            failing = bool(self._attempts.keys() - {""})
        if failing or not self.wait_idle(timeout, orphans=False):
            logger.warning(
                "grip_views: exiting with unsent durable events on %d channel(s); "
                "the next process's sender or manage.py grip_outbox sends them",
                self.pending(),
            )


_sender: OutboxSender | None = None
_sender_lock = threading.Lock()


def get_sender() -> OutboxSender:
    """The process's :class:`OutboxSender`, made on first use."""
    global _sender
    if _sender is None:
        with _sender_lock:
            if _sender is None:
                _sender = OutboxSender()
    return _sender


def _after_fork() -> None:
    global _sender
    _sender = None  # its thread did not survive the fork


def _flush_at_exit() -> None:
    if _sender is not None:
        _sender.flush_at_exit(EXIT_WAIT)


os.register_at_fork(after_in_child=_after_fork)
atexit.register(_flush_at_exit)
