"""The race's Channels server (bench/race.py): daphne with channels_redis, the
channel layer Channels needs to run on more than one process. The race starts
its own redis-server and passes its URL as BENCH_REDIS_URL. Set up as
redis-py 8 needs (below): what a Channels user would have to do too."""

import os

from bench.apps.settings_channels import *  # noqa: F403

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
                    # redis-py 8 reads with a 5 s socket_timeout by default, under
                    # channels_redis 4.3.0's blocking BZPOPMIN of 5 s: the consumer
                    # running the layer's receive loop then crashes every ~5 s idle
                    # (django/channels_redis issue 422), closing its socket.
                    "socket_timeout": None,
                    # redis-py 8's pool holds 100 connections and refuses more
                    # (MaxConnectionsError), while every connect and disconnect
                    # of a socket is a group_add / group_discard: under the
                    # churn's 50 opens and 50 closes at a time that refused a
                    # handshake, and when 5,000 sockets closed, 1000 connections
                    # were still too few (about 1,350 group_discard failed).
                    "max_connections": 5000,
                }
            ]
        },
    }
}
