"""The todo API with Django's test client: a change is published after commit, and every
request it cannot use is a 4xx with DRF's one-line JSON reason, never a 500.

    cd demo && python manage.py test
"""

from django.contrib.auth import get_user_model
from django.test import TestCase, override_settings

from grip_views.testing import GripClient, messages_on, outbox

from .models import Todo

JSON = "application/json"


@override_settings(GRIP_PUBLISH_BACKEND="grip_views.testing.InMemoryPublisher", GRIP_OUTBOX_THREAD=False)
class TodoApiTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.todo = Todo.objects.create(title="milk")

    def setUp(self):
        outbox.clear()

    def send(self, method, path, body, content_type=JSON):
        """A request of the demo's user (made by the migrations)."""
        self.client.force_login(get_user_model().objects.get(username="demo"))
        return self.client.generic(method, path, body, content_type=content_type)

    def assert_refused(self, response, status, json):
        """``response`` is ``status`` with ``json`` as its one-line body, and nothing was published."""
        self.assertEqual((response.status_code, response.json()), (status, json))
        self.assertNotIn(b"\n", response.content)
        self.assertEqual(outbox, [])

    def test_a_created_todo_is_published_after_commit(self):
        with self.captureOnCommitCallbacks(execute=True):
            response = self.send("POST", "/api/todos/", b'{"title": "caf\xc3\xa9"}')
            self.assertEqual(outbox, [])  # not before the commit
        self.assertEqual(response.status_code, 201)
        todo = response.json()
        self.assertEqual((todo["title"], todo["author"]), ("café", "demo"))
        body = response.content.decode()
        # An EventSource on the list hears an event (durable: with its id); a long-poll on it gets [todo].
        self.assertEqual(
            messages_on("demo_api.todo@event-stream", "http-stream"),
            [{"content": f"id: 1\nevent: created\ndata: {body}\n\n"}],
        )
        self.assertEqual(messages_on("demo_api.todo", "http-response")[0]["body"], f"[{body}]")

    def test_a_missing_title_is_a_400_naming_it(self):
        for method, path in (("POST", "/api/todos/"), ("PUT", f"/api/todos/{self.todo.pk}/")):
            with self.subTest(method=method):
                response = self.send(method, path, b"{}")
                self.assert_refused(response, 400, {"title": ["This field is required."]})

    def test_an_empty_title_is_a_400(self):
        for method, path in (("POST", "/api/todos/"), ("PATCH", f"/api/todos/{self.todo.pk}/")):
            with self.subTest(method=method):
                response = self.send(method, path, b'{"title": ""}')
                self.assert_refused(response, 400, {"title": ["This field may not be blank."]})

    def test_json_that_is_not_utf8_is_a_400(self):
        response = self.send("POST", "/api/todos/", b'{"title": "\xff"}')
        detail = "JSON parse error - 'utf-8' codec can't decode byte 0xff in position 11: invalid start byte"
        self.assert_refused(response, 400, {"detail": detail})

    def test_a_form_is_a_415_so_its_bytes_are_never_guessed(self):
        for body in (b"title=\xff", b"title=%FF", b"title=tea"):
            with self.subTest(body=body):
                response = self.send("POST", "/api/todos/", body, "application/x-www-form-urlencoded")
                detail = 'Unsupported media type "application/x-www-form-urlencoded" in request.'
                self.assert_refused(response, 415, {"detail": detail})

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
    def test_a_body_too_large_is_a_413(self):
        response = self.send("POST", "/api/todos/", b'{"title": "%s"}' % (b"x" * 100))
        self.assert_refused(response, 413, {"detail": "The body is too large."})

    def test_a_wrong_method_is_a_405(self):
        for method in ("PUT", "PATCH", "DELETE"):
            with self.subTest(method=method):
                response = self.send(method, "/api/todos/", b"{}")
                self.assert_refused(response, 405, {"detail": f'Method "{method}" not allowed.'})

    def test_a_change_without_login_is_a_403(self):
        response = self.client.post("/api/todos/", {"title": "tea"}, content_type=JSON)
        self.assert_refused(response, 403, {"detail": "Authentication credentials were not provided."})

    def test_a_long_poll_after_something_that_is_not_a_version_is_a_400(self):
        for after in ("", "x", "1.5"):
            with self.subTest(after=after):
                response = GripClient().get_proxied(f"/api/todos/?after={after}")
                self.assert_refused(response, 400, {"after": [f"“{after}” value must be an integer."]})
                self.assertFalse(response.has_header("Grip-Hold"))
