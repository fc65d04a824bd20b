"""Publishing to Pushpin over ZeroMQ: ``pip install "grip-views[zmq]"``.

Set ``GRIP_PUBLISH_BACKEND = "grip_views.zmq.ZmqPublisher"`` and give each
proxy of ``GRIP_PROXIES`` one way to be reached:

``control_zmq_push_uri``
    A PUSH socket connects to that instance's PULL (its ``push_in_spec``).
``control_zmq_pub_uri``
    The app's one PUB socket connects to that instance's bound SUB (its
    ``push_in_sub_specs``, with ``push_in_sub_connect=false``).
``control_zmq_pub_bind``
    The app's one PUB socket binds there, and every instance connects to it
    (``push_in_sub_specs`` = that address, ``push_in_sub_connect=true``): one
    entry for all of them.
``control_uri``
    Published to over HTTP, as :class:`~grip_views.publishing.HttpPublisher` does.

Items are the ones :func:`grip_views.publish` builds for HTTP, one per
ZeroMQ message, in the JSON form Pushpin 1.36 reads there: ``J`` and the
item's JSON (PULL), or the channel as topic frame and that (SUB). Queueing,
batches of ``GRIP_PUBLISH_BATCH_SIZE`` and failure reporting are
``HttpPublisher``'s: a blocking publish raises
:class:`~grip_views.exceptions.PublishError`, a non-blocking one logs and
calls ``GRIP_PUBLISH_ERROR_HANDLER``.

What a failure is, since ZeroMQ answers nothing back: each socket's
connections are watched (a ZeroMQ socket monitor). A publish fails, naming
the address, when the PUSH or PUB connection to an instance is down (refused,
or closed by the instance: seen within milliseconds of a Pushpin exiting),
when nothing is connected to the bound PUB, when a connection is still not up
``GRIP_PUBLISH_TIMEOUT`` seconds after the socket was made, or when a
receiver is so far behind that a message cannot be queued for that long.
Not detected: an instance whose connection stays open while it does not read
(a host gone without closing TCP: up to about a minute, until TCP keep-alive
gives up), items queued in ZeroMQ or the kernel when a connection drops, an
item Pushpin refuses (it logs a warning; over HTTP it answers 400), and, on a
bound PUB, which instance is missing while at least one is connected (only
their number is known). A PUB socket sends a channel only to instances
subscribed to it: a publish within 50 ms of a connection coming up waits for
the instance's subscriptions, and one made just after Pushpin took a new
subscription, before it reached the app, can miss that client unseen; over
PUSH and HTTP it cannot.
"""

try:
    import zmq  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        'grip_views.zmq needs pyzmq, which is not installed: pip install "grip-views[zmq]"'
    ) from exc

from .publisher import ZmqPublisher

__all__ = ["ZmqPublisher"]
