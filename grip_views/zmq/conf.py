"""The ZeroMQ addresses of ``GRIP_PROXIES``, checked: the publisher and the system check agree."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..conf import Proxy
from ..exceptions import GripConfigurationError

#: What each key is in Pushpin's config, for messages.
PUSHPIN_SETTING = {
    "control_zmq_push_uri": "push_in_spec",
    "control_zmq_pub_uri": "push_in_sub_specs (with push_in_sub_connect=false)",
    "control_zmq_pub_bind": "push_in_sub_specs (with push_in_sub_connect=true)",
}
_EXAMPLE = {
    "control_zmq_push_uri": "tcp://127.0.0.1:5560",
    "control_zmq_pub_uri": "tcp://127.0.0.1:5562",
    "control_zmq_pub_bind": "tcp://*:5563",
}
_KINDS = {"control_zmq_push_uri": "push", "control_zmq_pub_uri": "pub", "control_zmq_pub_bind": "bind"}
_TCP = re.compile(r"tcp://(?P<host>[^\s:/]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})")
_IPC = re.compile(r"ipc://\S+")


@dataclass(frozen=True)
class ZmqEndpoint:
    """One ZeroMQ address to publish to, from ``source`` (``GRIP_PROXIES[1]``) under ``key``."""

    key: str
    address: str
    source: str

    @property
    def kind(self) -> str:
        """``"push"``, ``"pub"`` (the PUB socket connects to it) or ``"bind"`` (the PUB binds it)."""
        return _KINDS[self.key]

    @property
    def pushpin_setting(self) -> str:
        """What this address is in ``pushpin.conf``."""
        return PUSHPIN_SETTING[self.key]


def check_address(address: str, key: str, source: str) -> str:
    """``address`` if it is a ZeroMQ ``tcp://host:port`` or ``ipc://path`` one
    can connect to (for ``control_zmq_pub_bind``: listen on, ``*`` for every
    interface), else a ``GripConfigurationError`` naming ``source[key]`` and an example."""
    bind = key == "control_zmq_pub_bind"
    match = _TCP.fullmatch(address)
    ok = bool(_IPC.fullmatch(address)) or (
        match is not None and 0 < int(match["port"]) < 65536 and (bind or match["host"] != "*")
    )
    if not ok:
        example = _EXAMPLE[key]
        where = "bound on" if bind else "connected to"
        raise GripConfigurationError(
            f"{source}[{key!r}] must be a ZeroMQ address {where} such as {example!r} "
            f"or 'ipc:///run/pushpin/NAME', got {address!r}."
        )
    return address


def zmq_endpoints(proxies: Iterable[Proxy]) -> list[ZmqEndpoint]:
    """The ZeroMQ endpoints of ``proxies``, each address checked; at most one ``bind``."""
    endpoints: list[ZmqEndpoint] = []
    for proxy in proxies:
        found = proxy.zmq_endpoint
        if found is None:
            continue
        key, address = found
        source = proxy.source or "a proxy"
        endpoints.append(ZmqEndpoint(key, check_address(address, key, source), f"{source}[{key!r}]"))
    binds = [e.source for e in endpoints if e.kind == "bind"]
    if len(binds) > 1:
        raise GripConfigurationError(
            f"{' and '.join(binds)} both bind the PUB socket: it binds one address, which every "
            "Pushpin connects to (push_in_sub_connect=true); keep one entry."
        )
    return endpoints
