"""Live HTML (grip_views.htmx): signed stream names, hx-swap-oob fragments,
model broadcasts after commit through the in-memory outbox, per-user streams
and resume, with the test client and signed proxy requests."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory

from grip_views.durable import get_sender
from grip_views.exceptions import InvalidChannel, RejectConnection
from grip_views.history import get_history
from grip_views.htmx import (
    FRAGMENT_EVENT,
    broadcast_fragment,
    dom_id,
    oob_html,
    sign_stream,
    stream_name,
    verify_stream,
)
from grip_views.htmx.apps import check_django_htmx_installed
from grip_views.testing import messages_on

from .htmx_app.models import Item, Note

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.htmx_urls")]


def _sent(stream, format=None):
    """What was published on ``stream``, once the durable sender is idle: a send it
    took over (its sweep found the channel unsent) finishes on its thread."""
    assert get_sender().wait_idle(30), get_sender().stats
    return messages_on(stream_name(stream), format)


def _fragments(stream):
    """The SSE data of every fragment published on ``stream``, oldest first."""
    out = []
    for message in _sent(stream, "http-stream"):
        content = message["content"]
        assert f"\nevent: {FRAGMENT_EVENT}\n" in content
        out.append(
            "\n".join(line[len("data: ") :] for line in content.splitlines() if line.startswith("data: "))
        )
    return out


def _connect_url(html, stream):
    """The sse-connect URL of the {% grip_stream %} element for ``stream`` in ``html``."""
    for url in re.findall(r'sse-connect="([^"]+)"', html):
        url = unescape(url)
        if parse_qs(urlsplit(url).query)["stream"][0].startswith(stream + ":"):
            return url
    raise AssertionError(f"no element for {stream!r} in {html}")


# --------------------------------------------------------------------- stream names
def test_stream_names_join_strings_and_model_instances():
    alice = User.objects.create(username="alice")
    assert stream_name("room") == "room"
    assert stream_name(("notes", alice)) == f"notes:auth.user:{alice.pk}"
    assert stream_name(alice) == f"auth.user:{alice.pk}"


@pytest.mark.parametrize("bad", [("a", 3), (User(username="unsaved"),), ("has space",), ("notes", "")])
def test_a_stream_part_that_cannot_name_a_channel_is_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        stream_name(bad)


def test_a_missing_template_variable_never_makes_a_per_user_stream_shared():
    template = Template("{% load grip_htmx %}{% grip_stream 'notes' request.user %}")
    with pytest.raises(ValueError, match="empty"):
        template.render(Context({}))


def test_a_name_that_cannot_be_a_channel_is_an_invalid_channel():
    with pytest.raises(InvalidChannel):
        stream_name("two words")


def test_a_signed_name_verifies_and_an_altered_one_does_not():
    signed = sign_stream("items")
    assert verify_stream(signed) == "items"
    name, signature = signed.rsplit(":", 1)
    for forged in (f"other:{signature}", f"{name}:{signature[:-1]}x", "items", "", None):
        with pytest.raises(RejectConnection) as caught:
            verify_stream(forged)
        assert caught.value.status == 403


def test_a_name_signed_for_another_purpose_is_refused():
    other = signing.Signer().sign("items")  # the same key, no salt: not a stream name
    with pytest.raises(RejectConnection):
        verify_stream(other)


# --------------------------------------------------------------------- hx-swap-oob
def test_outer_html_marks_the_fragments_first_element():
    assert oob_html('\n<li id="x">a</li>', "#x") == '\n<li hx-swap-oob="outerHTML:#x" id="x">a</li>'
    assert (
        oob_html("<!-- c --><tr><td>1</td></tr>", "#r")
        == '<!-- c --><tr hx-swap-oob="outerHTML:#r"><td>1</td></tr>'
    )


def test_other_swaps_wrap_the_fragment_and_delete_needs_none():
    assert (
        oob_html("<li>a</li>", "#list", "beforeend") == '<div hx-swap-oob="beforeend:#list"><li>a</li></div>'
    )
    assert oob_html("", "#x", "delete") == '<div hx-swap-oob="delete:#x"></div>'
    assert oob_html("<b>", 'a[title="q"]', "innerHTML").startswith(
        '<div hx-swap-oob="innerHTML:a[title=&quot;q&quot;]">'
    )


@pytest.mark.parametrize(
    ("html", "target", "swap"),
    [("<li>", "#x", "replace"), ("just text", "#x", "outerHTML"), ("<li>", "", "outerHTML")],
)
def test_a_fragment_htmx_could_not_place_is_refused(html, target, swap):
    with pytest.raises(ValueError):
        oob_html(html, target, swap)


# --------------------------------------------------------------------- broadcast_fragment
def test_broadcast_fragment_renders_once_for_sse_and_websocket(grip_outbox):
    item = Item.objects.create(title="<tea>")
    grip_outbox.clear()
    event_id = broadcast_fragment(
        "room", "htmx_app/item_grip.html", {"item": item, "object": item}, target="#a"
    )
    [stream] = _sent("room", "http-stream")
    [socket] = _sent("room", "ws-message")
    html = f'<li hx-swap-oob="outerHTML:#a" id="item-{item.pk}">&lt;tea&gt;</li>\n'
    assert stream["content"] == f"id: {event_id}\nevent: grip-fragment\ndata: {html[:-1]}\ndata: \n\n"
    assert socket["content"] == html  # what htmx's ws extension swaps: the same hx-swap-oob HTML
    assert _sent("room")[0]["prev-id"] == str(event_id - 1)


def test_broadcast_fragment_is_stored_with_the_transaction_and_sent_after_it(grip_outbox):
    with transaction.atomic():
        broadcast_fragment("room2", None, target="#gone", swap="delete")
        assert grip_outbox == []
    assert _fragments("room2") == ['<div hx-swap-oob="delete:#gone"></div>']
    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast_fragment("room2", None, target="#other", swap="delete")
        raise RuntimeError("rolled back")
    assert len(_fragments("room2")) == 1
    assert get_history().last_id("room2") == 1


def test_broadcast_fragment_without_a_template_must_be_a_delete():
    with pytest.raises(ValueError, match="needs a template_name"):
        broadcast_fragment("room", None, target="#x")


# --------------------------------------------------------------------- model broadcasts
def test_a_model_broadcasts_create_update_and_delete_after_commit(grip_outbox):
    with transaction.atomic():
        item = Item.objects.create(title="one")
        assert grip_outbox == []  # rendered and published once the transaction commits
    item.title = "two"
    item.save()
    pk = item.pk
    item.delete()
    assert _fragments("items") == [
        f'<div hx-swap-oob="beforeend:#item-list"><li id="item-{pk}" class="new">one</li>\n</div>',
        f'<li hx-swap-oob="outerHTML:#item-{pk}" id="item-{pk}">two</li>\n',
        f'<div hx-swap-oob="delete:#item-{pk}"></div>',
    ]
    assert [m["id"] for m in _sent("items")] == ["1", "2", "3"]


def test_a_rolled_back_change_broadcasts_nothing(grip_outbox):
    with pytest.raises(RuntimeError), transaction.atomic():
        Item.objects.create(title="never")
        raise RuntimeError("rolled back")
    assert _sent("items") == []


def test_a_model_without_its_own_create_template_uses_the_shared_one_and_its_insert(grip_outbox):
    alice = User.objects.create(username="alice")
    note = Note.objects.create(owner=alice, text="hi")
    assert _fragments(("notes", alice)) == [
        f'<div hx-swap-oob="afterbegin:#note-list"><p id="note-{note.pk}">hi</p>\n</div>'
    ]


def test_a_fragment_that_fails_to_render_is_logged_not_raised_after_the_commit(grip_outbox, caplog, settings):
    settings.TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": []}]
    Item.objects.create(title="no templates")  # the change is committed: the request must not fail
    assert _sent("items") == []
    assert any("on_commit" in r.getMessage() for r in caplog.records)


def test_dom_id_is_the_model_name_and_pk():
    alice = User.objects.create(username="alice")
    assert dom_id(alice) == f"user-{alice.pk}"
    assert (
        Template("{% load grip_htmx %}{{ u|dom_id:'row' }}").render(Context({"u": alice}))
        == f"row-user-{alice.pk}"
    )


# --------------------------------------------------------------------- per-user streams
def _page_for(user):
    request = RequestFactory().get("/page/")
    request.user = user
    from tests.htmx_urls import page

    response = page(request)
    response.render()
    return response.content.decode()


def test_a_users_fragments_reach_only_the_stream_rendered_into_their_pages(grip_outbox, grip_client):
    alice, bob = User.objects.create(username="alice"), User.objects.create(username="bob")
    alice_url = _connect_url(_page_for(alice), "notes")
    bob_url = _connect_url(_page_for(bob), "notes")
    assert alice_url != bob_url
    Note.objects.create(owner=alice, text="for alice")
    assert len(_fragments(("notes", alice))) == 1
    assert _fragments(("notes", bob)) == []
    alice_hold = grip_client.get_proxied(alice_url)
    bob_hold = grip_client.get_proxied(bob_url)
    assert alice_hold["Grip-Channel"].startswith(f"notes:auth.user:{alice.pk};")
    assert bob_hold["Grip-Channel"].startswith(f"notes:auth.user:{bob.pk};")
    # Bob cannot point his page's signature at Alice's stream.
    bob_signature = parse_qs(urlsplit(bob_url).query)["stream"][0].rsplit(":", 1)[1]
    forged = grip_client.get_proxied("/live/", {"stream": f"notes:auth.user:{alice.pk}:{bob_signature}"})
    assert forged.status_code == 403
    assert forged.content == b"This stream name is not signed by this app (forged or altered).\n"
    assert "Grip-Channel" not in forged


# --------------------------------------------------------------------- the endpoint and resume
@pytest.mark.parametrize("query", [{}, {"stream": "items"}, {"stream": "items:forged"}])
def test_a_missing_or_forged_stream_name_gets_403_and_no_hold(grip_client, query):
    response = grip_client.get_proxied("/live/", query)
    assert response.status_code == 403
    assert response.content.count(b"\n") == 1  # one line of reason
    assert "Grip-Channel" not in response


def test_the_tag_connects_from_the_last_id_the_page_was_rendered_at(grip_outbox, grip_client):
    Item.objects.create(title="before the page")
    url = _connect_url(_page_for(User.objects.create(username="alice")), "items")
    assert parse_qs(urlsplit(url).query)["last_event_id"] == ["1"]
    Item.objects.create(title="after the page")  # published before the page connected
    response = grip_client.get_proxied(url)
    body = response.content.decode()
    assert body.startswith("id: 2\nevent: grip-fragment\n")
    assert "after the page" in body and "before the page" not in body
    assert response["Grip-Channel"] == "items; prev-id=2"
    assert "rel=next" in response["Grip-Link"]


def test_a_reconnecting_page_gets_the_fragments_it_missed(grip_outbox, grip_client):
    for title in ("a", "b", "c"):
        Item.objects.create(title=title)
    response = grip_client.get_proxied("/live/", {"stream": sign_stream("items")}, HTTP_LAST_EVENT_ID="1")
    body = response.content.decode()
    assert [line for line in body.splitlines() if line.startswith("id: ")] == ["id: 2", "id: 3"]
    assert response["Grip-Channel"] == "items; prev-id=3"


def test_a_page_too_far_behind_gets_a_reset_and_the_reload_answer_refreshes_it(grip_outbox, grip_client):
    for title in ("a", "b", "c"):
        Item.objects.create(title=title)
    get_history().trim(max_events=1)
    response = grip_client.get_proxied("/live/", {"stream": sign_stream("items")}, HTTP_LAST_EVENT_ID="1")
    assert response.content.decode().startswith("event: reset\nid: 3\n")
    html = _page_for(User.objects.create(username="alice"))
    assert 'hx-trigger="sse:reset" hx-get="/live/?reload=1"' in html
    reload = grip_client.get_proxied("/live/?reload=1")
    assert reload.status_code == 200 and reload["HX-Refresh"] == "true"


def test_the_tag_writes_the_htmx_sse_attributes():
    html = _page_for(User.objects.create(username="alice"))
    element = html.split("</div>")[0]
    for attribute in ('hx-ext="sse"', 'sse-swap="grip-fragment"', 'hx-swap="none"', "hidden"):
        assert attribute in element


def test_the_tag_needs_a_stream_name_and_a_routed_endpoint(settings):
    with pytest.raises(TemplateSyntaxError):
        Template("{% load grip_htmx %}{% grip_stream %}").render(Context())
    with pytest.raises(ImproperlyConfigured, match="not routed"):
        Template("{% load grip_htmx %}{% grip_stream 'x' url_name='nowhere' %}").render(Context())


def test_the_check_names_django_htmx_when_it_is_missing(settings):
    assert check_django_htmx_installed() == []
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django_htmx"]
    [error] = check_django_htmx_installed()
    assert error.id == "grip_views.E018" and "django_htmx" in error.hint
