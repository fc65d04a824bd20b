"""The GRIP protocol, framework-free: nothing in this package imports Django.

- :mod:`.instructions`: channels and holds, turned into ``Grip-*`` headers, and
  the ``Grip-*`` headers a proxy sends, parsed.
- :mod:`.websocket`: the WebSocket-over-HTTP events codec and the
  per-request connection context that collects what to send back.
- :mod:`.signature`: ``Grip-Sig`` verification (HS256, ES256, RS256).
- :mod:`.sse`: Server-Sent Events framing.

Each module works on strings, bytes and mappings, so it can be tested and
benchmarked on its own, and the Django layer above it stays thin.
"""
