"""A small realtime REST API: todos that stream, long-poll and publish their changes.

    curl -N -H "Accept: text/event-stream" http://127.0.0.1:7999/api/todos/
    curl -u demo:demo -H "Content-Type: application/json" \\
         -d '{"title": "try grip_views"}' http://127.0.0.1:7999/api/todos/
"""
