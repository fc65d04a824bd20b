"""The demo's endpoints with Django's test client: what they publish, and for every
request they cannot use a 4xx with one plain-text line, never a 500.

    cd demo && python manage.py test
"""

from django.test import Client, SimpleTestCase, TestCase, override_settings

from grip_views.testing import GripClient, messages_on, outbox

FORM = "application/x-www-form-urlencoded"
TEXT = "text/plain; charset=utf-8"

#: The endpoints that take a POST with a form field ``data``: what a good one
#: publishes, as (channel, format, published).
POST_ENDPOINTS = {
    "/stream/": ("test", "http-stream", {"content": "héllo\n"}),
    "/broadcast/": ("test", "ws-message", {"content": "héllo"}),
    "/events/": ("events", "http-stream", {"content": "event: message\ndata: héllo\n\n"}),
}
#: What grip_views itself answers on /echo/.
UNSIGNED = "WebSocket-over-HTTP requests are accepted only from the GRIP proxy (Grip-Sig missing or invalid)."
NOT_A_WEBSOCKET = "This endpoint is a WebSocket: connect with a WebSocket client through the GRIP proxy."
ALLOWED = {
    "/stream/": "GET, POST, HEAD, OPTIONS",
    "/broadcast/": "POST",
    "/events/": "GET, POST, HEAD, OPTIONS",
}


@override_settings(GRIP_PUBLISH_BACKEND="grip_views.testing.InMemoryPublisher", GRIP_OUTBOX_THREAD=False)
class DurableEventsTests(TestCase):
    """``/events/`` is durable: a POST is answered once its event is stored, with its id,
    and ``Last-Event-ID`` gets what was missed before the hold."""

    def setUp(self):
        outbox.clear()

    def test_a_post_is_stored_with_an_id_then_published_with_it(self):
        with self.captureOnCommitCallbacks(execute=True):
            first = self.client.post("/events/", {"data": "one"})
            second = self.client.post("/events/", {"data": "h\u00e9llo"})
        self.assertEqual((first.status_code, first.content), (200, b"Ok: event 1\n"))
        self.assertEqual(second.content, b"Ok: event 2\n")
        self.assertEqual(
            messages_on("events", "http-stream")[-1],
            {"content": "id: 2\nevent: message\ndata: h\u00e9llo\n\n"},
        )

    def test_last_event_id_gets_the_missed_events_first(self):
        with self.captureOnCommitCallbacks(execute=True):
            for data in ("one", "two", "three"):
                self.client.post("/events/", {"data": data})
        response = GripClient().get_proxied("/events/", HTTP_LAST_EVENT_ID="1")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response.content.decode(),
            "retry: 1000\n\n"
            "id: 2\nevent: message\ndata: two\n\nid: 3\nevent: message\ndata: three\n\n"
            'event: caught-up\ndata: {"last_id":"3","missed":2}\n\n',
        )
        self.assertEqual(response["Grip-Channel"], "events; prev-id=3")

    def test_the_websocket_gets_the_same_events_with_the_same_ids(self):
        with self.captureOnCommitCallbacks(execute=True):
            for data in ("one", "two", "three"):
                self.client.post("/events/", {"data": data})
        self.assertEqual(messages_on("events", "ws-message")[-1], {"content": '{"id":"3","data":"three"}'})
        first = GripClient().websocket("/events/ws/", [("OPEN", None)])
        self.assertEqual(first.messages, ['{"id":"3","event":"caught-up","missed":0}'])
        resumed = GripClient().websocket("/events/ws/?last_id=1", [("OPEN", None)])
        self.assertEqual(
            resumed.messages,
            [
                '{"id":"2","data":"two"}',
                '{"id":"3","data":"three"}',
                '{"id":"3","event":"caught-up","missed":2}',
            ],
        )

    def test_a_last_event_id_that_is_not_an_id_is_a_400(self):
        response = GripClient().get_proxied("/events/", HTTP_LAST_EVENT_ID="abc")
        self.assertEqual(response.status_code, 400)


class OneLineAssertions(SimpleTestCase):
    def assert_one_line(self, response, status, reason):
        """``response`` is ``status`` with ``reason`` as its whole plain-text body."""
        self.assertEqual((response.status_code, response.content.decode()), (status, reason + "\n"))
        self.assertEqual(response["Content-Type"], TEXT)


@override_settings(GRIP_PUBLISH_BACKEND="grip_views.testing.InMemoryPublisher", GRIP_OUTBOX_THREAD=False)
class PostEndpointTests(OneLineAssertions):
    """``/stream/``, ``/broadcast/`` and ``/events/`` (``curl -d data=...``)."""

    def setUp(self):
        outbox.clear()

    def post(self, path, body, content_type=FORM):
        return self.client.generic("POST", path, body, content_type=content_type)

    def assert_refused(self, body, status, reason, content_type=FORM):
        for path in POST_ENDPOINTS:
            with self.subTest(path=path):
                self.assert_one_line(self.post(path, body, content_type), status, reason)
        self.assertEqual(outbox, [])

    def test_a_post_with_data_publishes_it(self):
        for path, (channel, format, published) in POST_ENDPOINTS.items():
            if path == "/events/":
                continue  # durable: stored first (DurableEventsTests)
            with self.subTest(path=path):
                outbox.clear()
                response = self.post(path, b"data=h%C3%A9llo")
                self.assertEqual((response.status_code, response.content), (200, b"Ok\n"))
                self.assertEqual(messages_on(channel, format), [published])

    def test_a_missing_field_is_a_400_naming_it(self):
        reason = "The form field 'data' is missing: send data=<text>."
        for body in (b"=&&=", b"", b"other=1"):
            with self.subTest(body=body):
                self.assert_refused(body, 400, reason)

    def test_a_json_body_is_a_missing_field(self):
        reason = "The form field 'data' is missing: send data=<text>."
        self.assert_refused(b'{"data": "hi"}', 400, reason, content_type="application/json")

    def test_an_empty_field_is_a_400(self):
        for body in (b"data=", b"data"):
            with self.subTest(body=body):
                self.assert_refused(body, 400, "The form field 'data' is empty.")

    def test_a_body_that_is_not_utf8_is_a_400(self):
        multipart = b'--B\r\nContent-Disposition: form-data; name="data"\r\n\r\n\xff\r\n--B--\r\n'
        for body, content_type in (
            (b"data=\xff\xfe", FORM),
            (b"data=h\xe9llo", FORM + "; charset=latin-1"),
            (multipart, "multipart/form-data; boundary=B"),
        ):
            with self.subTest(content_type=content_type):
                self.assert_refused(body, 400, "The body is not UTF-8.", content_type)

    def test_an_escaped_field_that_is_not_utf8_is_a_400(self):
        self.assert_refused(b"data=%FF%FE", 400, "The form field 'data' is not UTF-8.")

    def test_a_form_django_cannot_parse_is_a_400_with_djangos_reason(self):
        self.assert_refused(
            b"data=hi",
            400,
            "HTTP requests with the 'application/x-www-form-urlencoded' content type must be UTF-8 encoded.",
            FORM + "; charset=bz2_codec",
        )
        self.assert_refused(b"data=hi", 400, "Invalid boundary in multipart: None", "multipart/form-data")

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
    def test_a_body_too_large_is_a_413(self):
        self.assert_refused(b"data=" + b"x" * 100, 413, "The body is too large.")

    def test_a_wrong_method_is_a_405_naming_the_methods_to_use(self):
        for path, allowed in ALLOWED.items():
            for method in ("PUT", "DELETE", "PATCH"):
                with self.subTest(path=path, method=method):
                    response = self.client.generic(method, path, b"data=hi", content_type=FORM)
                    self.assert_one_line(response, 405, f"{method} is not allowed here: use {allowed}.")
                    self.assertEqual(response["Allow"], allowed)
        self.assert_one_line(self.client.get("/broadcast/"), 405, "GET is not allowed here: use POST.")
        self.assertEqual(outbox, [])


class LivePageTests(OneLineAssertions):
    def test_the_page_opens_an_event_source_and_a_websocket(self):
        response = self.client.get("/")
        self.assertContains(response, "new EventSource(url)")
        self.assertContains(response, 'new GripSocket("/events/ws/"')
        self.assertContains(response, '<script src="/static/grip_views/grip-socket.js"></script>')
        self.assertContains(response, '"/echo/"')

    def test_the_page_gets_grip_socket_js_with_debug_off(self):
        response = self.client.get("/static/grip_views/grip-socket.js")
        self.assertEqual(response.status_code, 200)
        self.assertIn(b"class GripSocket", b"".join(response.streaming_content))

    def test_a_post_is_a_405(self):
        self.assert_one_line(self.client.post("/"), 405, "POST is not allowed here: use GET, HEAD, OPTIONS.")

    def test_a_post_without_a_csrf_token_is_a_403_in_one_line(self):
        # What a browser's form or curl gets: the CSRF check runs before the view.
        with self.assertLogs("django.security.csrf", "WARNING"):
            response = Client(enforce_csrf_checks=True).post("/", {"data": "hi"})
        self.assert_one_line(response, 403, "CSRF verification failed: CSRF cookie not set.")


class EchoTests(OneLineAssertions):
    """``/echo/``: WebSocket-over-HTTP, as Pushpin sends it."""

    def setUp(self):
        self.grip = GripClient()

    def test_it_echoes_text_and_binary_and_hears_channel_test(self):
        reply = self.grip.websocket("/echo/", [("OPEN", None), ("TEXT", b"hi"), ("BINARY", b"\x00\xff")])
        self.assertTrue(reply.accepted)
        self.assertEqual(reply.messages, ["hi", b"\x00\xff"])
        self.assertEqual(reply.controls, [{"type": "subscribe", "channel": "test"}])

    def test_a_text_frame_that_is_not_utf8_closes_with_1007(self):
        reply = self.grip.websocket("/echo/", [("OPEN", None), ("TEXT", b"\xff")])
        self.assertEqual((reply.messages, reply.close_code), ([], 1007))

    def test_a_post_that_is_not_websocket_events_is_a_400(self):
        response = self.grip.post("/echo/", {"data": "hi"}, **self.grip.proxied_headers())
        self.assert_one_line(
            response, 400, "Expected WebSocket-over-HTTP events (Content-Type: application/websocket-events)."
        )

    def test_a_malformed_events_body_is_a_400(self):
        reply = self.grip.websocket("/echo/", b"TEXT 5\r\nhi\r\n")
        reason = "Malformed WebSocket-events body: TEXT at byte 0 says 5 bytes but the body ends first"
        self.assert_one_line(reply.response, 400, reason)

    def test_events_not_signed_by_the_proxy_are_a_403(self):
        reply = self.grip.websocket("/echo/", [("OPEN", None), ("TEXT", b"hi")], signed=False)
        self.assert_one_line(reply.response, 403, UNSIGNED)

    def test_a_wrong_method_is_a_405_and_a_get_a_426(self):
        response = self.client.put("/echo/")
        self.assert_one_line(response, 405, "PUT is not allowed here: use POST, GET, HEAD, OPTIONS.")
        self.assert_one_line(self.client.get("/echo/"), 426, NOT_A_WEBSOCKET)
