"""grip_views.rest_framework: DRF views held by the proxy, changes published after commit.

Views are in tests/drf_app (under /api/); requests are sent as the proxy would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.renderers import JSONRenderer

from grip_views import testing
from grip_views.protocol.sse import format_event
from grip_views.rest_framework import EventStreamRenderer, publish_data, renderer_channel
from grip_views.testing import GripClient, messages_on
from tests.drf_app.models import ApiToken, Todo

pytestmark = pytest.mark.django_db

LIST = "drf_app.todo"


def user(name: str) -> dict[str, Any]:
    """Create ``name`` with a token; the headers that authenticate as them."""
    account = User.objects.create(username=name)
    ApiToken.objects.create(key=f"token-{name}", user=account)
    return {"HTTP_AUTHORIZATION": f"Token token-{name}"}


SSE = {"HTTP_ACCEPT": "text/event-stream"}
WS_EVENTS = "application/websocket-events"


def assert_not_held(response: Any) -> None:
    assert not response.has_header("Grip-Hold")
    assert not response.has_header("Grip-Channel")


@pytest.fixture
def ann(db: Any) -> dict[str, Any]:
    return user("ann")


@pytest.fixture
def todo(db: Any) -> Todo:
    return Todo.objects.create(title="write tests")


# ------------------------------------------------------------ auth, permissions, throttles
def test_unauthenticated_stream_gets_drf_401_and_is_not_held(grip_client: GripClient) -> None:
    response = grip_client.get_proxied("/api/todos/", **SSE)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert_not_held(response)


def test_unauthenticated_long_poll_gets_drf_401_formatted_by_drf_and_is_not_held(
    grip_client: GripClient,
) -> None:
    response = grip_client.get_proxied("/api/todos/?after=0")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert_not_held(response)


def test_wrong_token_gets_401_and_is_not_held(grip_client: GripClient, ann: dict[str, Any]) -> None:
    response = grip_client.get_proxied("/api/todos/", HTTP_AUTHORIZATION="Token forged", **SSE)

    assert response.status_code == 401
    assert_not_held(response)


def test_permission_denied_gets_drf_403_and_is_not_held(grip_client: GripClient, ann: dict[str, Any]) -> None:
    response = grip_client.get_proxied("/api/forbidden/", **ann)

    assert response.status_code == 403
    assert response.json() == {"detail": "Nobody may read this."}
    assert_not_held(response)


def test_throttled_client_gets_drf_429_and_is_not_held(grip_client: GripClient, ann: dict[str, Any]) -> None:
    response = grip_client.get_proxied("/api/throttled/", **ann)

    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert "throttled" in response.json()["detail"]
    assert_not_held(response)


def test_channel_denied_by_can_subscribe_gets_drf_403_and_is_not_held(
    grip_client: GripClient, ann: dict[str, Any]
) -> None:
    theirs = Todo.objects.create(title="not ann's", owner=User.objects.create(username="bob"))

    response = grip_client.get_proxied(f"/api/own/{theirs.pk}/", **SSE, **ann)

    assert response.status_code == 403
    assert "Not allowed to subscribe" in response.content.decode()
    assert_not_held(response)


def test_owner_follows_own_object_on_its_event_stream_channel(
    grip_client: GripClient, ann: dict[str, Any]
) -> None:
    mine = Todo.objects.create(title="ann's", owner=User.objects.get(username="ann"))

    response = grip_client.get_proxied(f"/api/own/{mine.pk}/", **SSE, **ann)

    assert response.status_code == 200
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == f"{LIST}.{mine.pk}@event-stream"


def test_missing_object_is_drf_404_and_is_not_held(grip_client: GripClient, ann: dict[str, Any]) -> None:
    response = grip_client.get_proxied("/api/todos/999/?after=0", **ann)

    assert response.status_code == 404
    assert_not_held(response)


def test_unauthenticated_websocket_handshake_is_refused_and_not_subscribed(grip_client: GripClient) -> None:
    # The proxy's Accept matches no renderer: DRF alone would answer 406.
    reply = grip_client.websocket("/api/ws/todos/", HTTP_ACCEPT=WS_EVENTS)

    assert reply.status_code == 401
    assert json.loads(reply.response.content) == {"detail": "Authentication credentials were not provided."}
    assert not reply.accepted
    assert reply.controls == []


def test_authenticated_websocket_is_subscribed_and_request_data_is_no_415(
    grip_client: GripClient, ann: dict[str, Any]
) -> None:
    opened = grip_client.websocket("/api/ws/todos/", HTTP_ACCEPT=WS_EVENTS, **ann)
    assert opened.accepted
    assert {"type": "subscribe", "channel": LIST} in opened.controls

    reply = grip_client.websocket("/api/ws/todos/", [("TEXT", b'{"hi": 1}')], HTTP_ACCEPT=WS_EVENTS, **ann)

    assert reply.status_code == 200
    assert [json.loads(m) for m in reply.messages] == [{"you": "ann", "events": 1, "echo": {"hi": 1}}]


def test_session_authenticated_websocket_messages_pass_drf_csrf_check(db: Any) -> None:
    client = GripClient(enforce_csrf_checks=True)
    client.force_login(User.objects.create(username="sam"))

    reply = client.websocket("/api/ws/todos/", [("TEXT", b'"x"')])

    assert reply.status_code == 200
    assert json.loads(reply.messages[0])["you"] == "sam"


# ------------------------------------------------------------ streams and rendering
def test_event_stream_first_answer_is_the_serialized_list_as_one_event(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo
) -> None:
    plain = grip_client.get_proxied("/api/todos/", **ann)

    response = grip_client.get_proxied("/api/todos/", **SSE, **ann)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response.content.decode() == format_event(plain.content.decode())
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == f"{LIST}@event-stream"
    assert response["Grip-Keep-Alive"].startswith(":\\n\\n; format=cstring")


def test_json_client_of_event_stream_view_gets_a_normal_answer(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo
) -> None:
    response = grip_client.get_proxied("/api/todos/", **ann)

    assert response.json() == [
        {"id": todo.pk, "title": "write tests", "done": False, "owner": None, "version": 1}
    ]
    assert "Accept" in response["Vary"]
    assert_not_held(response)


def test_format_query_parameter_opens_an_event_stream(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo
) -> None:
    response = grip_client.get_proxied(f"/api/todos/{todo.pk}/?format=event-stream", **ann)

    assert response["Grip-Channel"] == f"{LIST}.{todo.pk}@event-stream"
    assert response.content.startswith(b'data: {"id":')


def test_event_stream_accept_is_not_refused_by_a_json_only_view(
    grip_client: GripClient, ann: dict[str, Any]
) -> None:
    # Feed lists only JSONRenderer; DRF alone would answer 406.
    response = grip_client.get_proxied("/api/feed/", **SSE, **ann)

    assert response.status_code == 200
    assert response.content == b'data: {"hello":"ann"}\n\n'
    assert response["Grip-Channel"] == "drf-feed@event-stream"


def test_json_stream_sends_one_document_per_line(grip_client: GripClient, ann: dict[str, Any]) -> None:
    response = grip_client.get_proxied("/api/feed/", **ann)

    assert response["Content-Type"] == "application/json"
    assert response.content == b'{"hello":"ann"}\n'
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == "drf-feed"
    assert response["Grip-Keep-Alive"] == "\\n; format=cstring; timeout=20"


def test_published_data_reaches_json_and_event_stream_clients_in_their_format(
    grip_client: GripClient, ann: dict[str, Any]
) -> None:
    response = grip_client.post("/api/feed/", {"text": "hi"}, content_type="application/json", **ann)

    assert response.status_code == 204
    assert messages_on("drf-feed", "http-stream") == [{"content": '{"said":"hi"}\n'}]
    assert messages_on("drf-feed@event-stream", "http-stream") == [{"content": 'data: {"said":"hi"}\n\n'}]


def test_direct_request_gets_the_first_answer_without_a_hold(ann: dict[str, Any]) -> None:
    response = GripClient().get("/api/feed/", **ann)

    assert response.content == b'{"hello":"ann"}\n'
    assert_not_held(response)


# ------------------------------------------------------------ published changes
def test_update_is_published_in_the_representation_a_get_returns(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        patched = grip_client.patch(
            f"/api/todos/{todo.pk}/", {"done": True}, content_type="application/json", **ann
        )
    assert patched.status_code == 200
    detail = grip_client.get(f"/api/todos/{todo.pk}/", **ann).content.decode()
    assert json.loads(detail)["done"] is True

    (on_object,) = messages_on(f"{LIST}.{todo.pk}")
    assert on_object["formats"]["http-response"] == {
        "code": 200,
        "headers": {"Content-Type": "application/json"},
        "body": detail,
    }
    assert on_object["formats"]["http-stream"] == {"content": detail + "\n"}
    (on_list,) = messages_on(LIST)
    assert on_list["formats"]["http-response"]["body"] == f"[{detail}]"
    (sse,) = messages_on(f"{LIST}@event-stream", "http-stream")
    assert sse == {"content": format_event(detail, event="updated")}


def test_perform_create_that_saves_itself_publishes_with_publish_change(
    grip_client: GripClient, ann: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        created = grip_client.post("/api/todos/", {"title": "new"}, content_type="application/json", **ann)

    body = created.content.decode()
    assert json.loads(body)["owner"] == "ann"
    (sse,) = messages_on(f"{LIST}@event-stream", "http-stream")
    assert sse == {"content": format_event(body, event="created")}
    assert messages_on(f"{LIST}.{json.loads(body)['id']}", "http-stream") == [{"content": body + "\n"}]


def test_a_create_that_publishes_nothing_is_a_warning_naming_the_fix(
    grip_client: GripClient, ann: dict[str, Any], caplog: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        created = grip_client.post("/api/forgetful/", {"title": "x"}, content_type="application/json", **ann)
    assert created.status_code == 201
    assert messages_on(LIST) == []
    (warning,) = [r for r in caplog.records if "published nothing" in r.getMessage()]
    assert "ForgetfulTodoList.perform_create()" in warning.getMessage()
    assert "self.publish_change(instance, event)" in warning.getMessage()


def test_delete_answers_detail_long_polls_404_and_leaves_list_long_polls_waiting(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo, django_capture_on_commit_callbacks: Any
) -> None:
    last = grip_client.get(f"/api/todos/{todo.pk}/", **ann).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        assert grip_client.delete(f"/api/todos/{todo.pk}/", **ann).status_code == 204

    (on_object,) = messages_on(f"{LIST}.{todo.pk}")
    assert on_object["formats"]["http-response"]["code"] == 404
    assert json.loads(on_object["formats"]["http-response"]["body"]) == {"detail": "Not found."}
    (on_list,) = messages_on(LIST)
    assert "http-response" not in on_list["formats"]
    assert messages_on(f"{LIST}@event-stream", "http-stream") == [
        {"content": format_event(last, event="deleted")}
    ]


def test_change_waits_for_the_commit(
    grip_client: GripClient, ann: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        grip_client.post("/api/todos/", {"title": "new"}, content_type="application/json", **ann)

    assert callbacks  # registered with the transaction...
    assert testing.outbox == []  # ...and not sent before it commits


@pytest.mark.django_db(transaction=True)
def test_committed_change_is_published_after_the_commit(grip_client: GripClient) -> None:
    headers = user("ann")
    with transaction.atomic():
        grip_client.post("/api/todos/", {"title": "kept"}, content_type="application/json", **headers)
        assert testing.outbox == []

    assert [json.loads(m["body"])[0]["title"] for m in messages_on(LIST, "http-response")] == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_publishes_nothing(grip_client: GripClient) -> None:
    headers = user("ann")

    with pytest.raises(RuntimeError), transaction.atomic():
        response = grip_client.post(
            "/api/todos/", {"title": "lost"}, content_type="application/json", **headers
        )
        assert response.status_code == 201
        raise RuntimeError("roll back")

    assert not Todo.objects.exists()
    assert testing.outbox == []


def test_publish_data_renders_each_renderer_on_its_own_channel() -> None:
    publish_data("room", {"n": 1}, event="tick", response=[{"n": 1}], status=202)

    (json_item,) = messages_on("room")
    assert json_item["formats"] == {
        "http-stream": {"content": '{"n":1}\n'},
        "http-response": {"code": 202, "headers": {"Content-Type": "application/json"}, "body": '[{"n":1}]'},
    }
    assert messages_on("room@event-stream", "http-stream") == [{"content": 'event: tick\ndata: {"n":1}\n\n'}]


def test_renderer_channel_keeps_json_on_the_channel_itself() -> None:
    assert renderer_channel("todos", JSONRenderer()).name == "todos"
    assert renderer_channel("todos", EventStreamRenderer()).name == "todos@event-stream"


# ------------------------------------------------------------ long-polling
def test_list_long_poll_with_nothing_newer_is_held_with_an_empty_list(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo
) -> None:
    response = grip_client.get_proxied(f"/api/todos/?after={todo.version}", **ann)

    assert response.json() == []
    assert response["Grip-Hold"] == "response"
    assert response["Grip-Channel"] == LIST
    assert response["Grip-Timeout"] == "20"


def test_list_long_poll_answers_at_once_with_only_the_newer_objects(
    grip_client: GripClient, ann: dict[str, Any]
) -> None:
    first, second, _third = (Todo.objects.create(title=t) for t in "abc")
    first.title = "a2"
    first.save()  # now the newest

    response = grip_client.get_proxied(f"/api/todos/?after={second.version}", **ann)

    assert [t["title"] for t in response.json()] == ["c", "a2"]
    assert_not_held(response)


def test_detail_long_poll_holds_while_unchanged_with_the_current_object(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo
) -> None:
    response = grip_client.get_proxied(f"/api/todos/{todo.pk}/?after={todo.version}", **ann)

    assert response.json()["title"] == "write tests"
    assert response["Grip-Hold"] == "response"
    assert response["Grip-Channel"] == f"{LIST}.{todo.pk}"


def test_detail_long_poll_answers_at_once_when_the_object_is_newer(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo
) -> None:
    response = grip_client.get_proxied(f"/api/todos/{todo.pk}/?after={todo.version - 1}", **ann)

    assert response.json()["version"] == todo.version
    assert_not_held(response)


def test_long_poll_asked_twice_answers_the_same(
    grip_client: GripClient, ann: dict[str, Any], todo: Todo
) -> None:
    # Pushpin re-requests a long-poll when its channel gets a first subscriber.
    first, again = (grip_client.get_proxied(f"/api/todos/?after={todo.version}", **ann) for _ in range(2))

    assert first.content == again.content
    assert [first[h] for h in ("Grip-Hold", "Grip-Channel")] == [
        again[h] for h in ("Grip-Hold", "Grip-Channel")
    ]


def test_bad_version_is_a_drf_400_naming_the_parameter(grip_client: GripClient, ann: dict[str, Any]) -> None:
    response = grip_client.get_proxied("/api/todos/?after=yesterday", **ann)

    assert response.status_code == 400
    assert list(response.json()) == ["after"]
    assert_not_held(response)


def test_long_poll_of_a_paginated_list_is_one_unpaginated_list(
    grip_client: GripClient, ann: dict[str, Any]
) -> None:
    for title in "abc":
        Todo.objects.create(title=title)

    paged = grip_client.get_proxied("/api/paged/", **ann).json()
    changes = grip_client.get_proxied("/api/paged/?after=0", **ann).json()

    assert paged["count"] == 3 and len(paged["results"]) == 2
    assert [t["title"] for t in changes] == ["a", "b", "c"]


def test_plain_apiview_long_poll_holds_while_its_data_is_empty(
    grip_client: GripClient, ann: dict[str, Any]
) -> None:
    pk = User.objects.get(username="ann").pk

    waiting = grip_client.get_proxied("/api/inbox/?after=empty", **ann)
    ready = grip_client.get_proxied("/api/inbox/?after=1", **ann)

    assert waiting.json() == [] and waiting["Grip-Channel"] == f"inbox-{pk}"
    assert waiting["Grip-Timeout"] == "30"
    assert ready.json() == [{"msg": "hi"}]
    assert_not_held(ready)


def test_plain_get_of_a_long_poll_view_is_not_held(grip_client: GripClient, ann: dict[str, Any]) -> None:
    assert_not_held(grip_client.get_proxied("/api/todos/", **ann))


# ------------------------------------------------------------ without DRF
def test_without_drf_the_rest_imports_and_the_module_names_the_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["rest_framework"] = None  # as if not installed
        import grip_views.views, grip_views.middleware, grip_views.publishing
        from grip_views import GripStreamView, publish
        try:
            import grip_views.rest_framework
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert 'pip install "grip-views[drf]"' in out.stdout
