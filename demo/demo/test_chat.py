"""The chat room (demo/chat.py) with grip_views.testing: WebSocket events in, what the
socket gets back and what is published to the room out.

    cd demo && python manage.py test demo.test_chat
"""

import json

from django.test import TransactionTestCase, override_settings

from grip_views.testing import GripClient, messages_on, outbox

ROOM = "/chat/lobby/socket/"
OPEN = ("OPEN", None)
CLOSE_1000 = ("CLOSE", b"\x03\xe8")
INVALID = "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
HELP = 'send {"type": "say", "text": "..."} or {"type": "typing"}.'


def text(message):
    return ("TEXT", json.dumps(message))


@override_settings(GRIP_PUBLISH_BACKEND="grip_views.testing.InMemoryPublisher", GRIP_OUTBOX_THREAD=False)
class ChatRoomTests(TransactionTestCase):  # presence keeps its entries in the database
    def setUp(self):
        outbox.clear()
        self.client = GripClient()

    def published(self, room="lobby", presence=False):
        """What the room's sockets were sent, decoded, with whether the sender was skipped:
        the chat's messages, or with ``presence`` who is online (join and leave)."""
        sent = [
            (json.loads(item["formats"]["ws-message"]["content"]), "sender" in item.get("meta", {}))
            for item in messages_on(f"chat-{room}")
        ]
        return [(m, skipped) for m, skipped in sent if ("event" in m) == presence]

    def join(self, name="ann", connection_id="conn-1"):
        reply = self.client.websocket(f"{ROOM}?name={name}", connection_id=connection_id)
        self.assertTrue(reply.accepted, reply.response.content)
        outbox.clear()
        return reply

    def send(self, *events, name="ann"):
        return self.client.websocket(f"{ROOM}?name={name}", list(events))

    def test_join_is_sent_to_the_joiner_and_to_the_others_of_the_room(self):
        reply = self.client.websocket(f"{ROOM}?name=ann")
        self.assertTrue(reply.accepted)
        self.assertEqual(reply.messages[0], '{"type":"join","name":"ann"}')
        self.assertEqual(
            reply.controls,
            [
                {"type": "set-meta", "name": "user", "value": "conn-1"},
                {"type": "subscribe", "channel": "chat-lobby", "filters": ["skip-self"]},
            ],
        )
        # Skipping the joiner, who got it above (a publish could reach it, or not, before it subscribes).
        self.assertEqual(messages_on("chat-lobby")[0]["meta"], {"sender": "conn-1"})
        self.assertEqual(self.published(), [({"type": "join", "name": "ann"}, True)])

    def test_say_goes_to_everyone_the_sender_too(self):
        self.join()
        reply = self.send(text({"type": "say", "text": "héllo"}))
        self.assertEqual(reply.messages, [])
        self.assertEqual(self.published(), [({"type": "say", "name": "ann", "text": "héllo"}, False)])

    def test_typing_goes_to_the_others_only(self):
        self.join()
        self.send(text({"type": "typing"}))
        self.assertEqual(messages_on("chat-lobby")[0]["meta"], {"sender": "conn-1"})
        self.assertEqual(self.published(), [({"type": "typing", "name": "ann"}, True)])

    def test_leave_goes_to_the_room_on_close_and_on_disconnect(self):
        for event in (CLOSE_1000, ("DISCONNECT", None)):
            with self.subTest(event=event[0]):
                self.join()
                reply = self.send(event)
                self.assertEqual(self.published(), [({"type": "leave", "name": "ann"}, False)])
                if event is CLOSE_1000:
                    self.assertEqual(reply.close_code, 1000)

    def test_a_message_cannot_speak_for_another_name(self):
        self.join()
        as_bob = {"name": "bob"}
        self.send(text({"type": "say", "text": "bob here", **as_bob}), text({"type": "typing", **as_bob}))
        self.assertEqual([m["name"] for m, _ in self.published()], ["ann", "ann"])

    def test_each_room_is_its_own_channel(self):
        self.client.websocket("/chat/other/socket/?name=bob")
        self.client.websocket("/chat/other/socket/?name=bob", [text({"type": "say", "text": "hi"})])
        self.assertEqual(messages_on("chat-lobby"), [])
        self.assertEqual([m["type"] for m, _ in self.published("other")], ["join", "say"])

    def test_a_bad_name_is_refused_with_a_400_saying_what_a_name_is(self):
        reason = "Choose a name of 1-20 letters, digits, '-' or '_': ?name=<name>.\n"
        for query in ("", "?name=", "?name=a%20b", "?name=" + "x" * 21, "?name=%3Cb%3E", "?name=ann%0A"):
            with self.subTest(query=query):
                reply = self.client.websocket(ROOM + query)
                self.assertEqual((reply.status_code, reply.response.content.decode()), (400, reason))
        self.assertEqual(outbox, [])

    def test_a_bad_message_gets_an_error_back_and_nothing_is_published(self):
        cases = [
            ("TEXT", "{not json"),
            ("BINARY", b"\x00"),
            text({"type": "shout", "text": "hi"}),
            text({"text": "hi"}),
            text(["say", "hi"]),
            text({"type": "say"}),
            text({"type": "say", "text": "   "}),
            text({"type": "say", "text": 42}),
            text({"type": "say", "text": "x" * 501}),
        ]
        self.join()
        reply = self.send(*cases)
        self.assertEqual(
            [json.loads(m) for m in reply.messages],
            [
                {"error": f"invalid JSON: {INVALID}"},
                {"error": "expected a JSON text message, got binary"},
                {"error": f"Unknown message type 'shout': {HELP}"},
                {"error": f"Unknown message type None: {HELP}"},
                {"error": f"Unknown message type None: {HELP}"},
                {"error": "A say needs some text."},
                {"error": "A say needs some text."},
                {"error": "A say needs some text."},
                {"error": "A say is at most 500 characters, not 501."},
            ],
        )
        self.assertIsNone(reply.close_code)  # the socket stays open
        self.assertEqual(outbox, [])

    def test_the_longest_say_is_published(self):
        self.join()
        self.send(text({"type": "say", "text": "x" * 500}))
        self.assertEqual(len(self.published()[0][0]["text"]), 500)

    def test_who_is_online_counts_a_name_once_however_many_tabs(self):
        first = self.client.websocket(f"{ROOM}?name=ann", connection_id="ann-1")
        state = json.loads(first.messages[1])
        self.assertEqual((state["event"], [m["key"] for m in state["members"]]), ("presence_state", ["ann"]))
        self.client.websocket(f"{ROOM}?name=ann", connection_id="ann-2")
        self.client.websocket(f"{ROOM}?name=bob", connection_id="bob-1")
        self.assertEqual(
            [(m["event"], m["member"]["key"], m["count"]) for m, _ in self.published(presence=True)],
            [("join", "ann", 1), ("join", "bob", 2)],
        )
        members = self.client.get("/chat/lobby/members/").json()
        self.assertEqual([(m["key"], m["connections"]) for m in members["members"]], [("ann", 2), ("bob", 1)])
        self.client.websocket(ROOM, [CLOSE_1000], connection_id="ann-1")  # ann still has a tab
        self.client.websocket(ROOM, [("DISCONNECT", None)], connection_id="ann-2")
        self.assertEqual([m["event"] for m, _ in self.published(presence=True)], ["join", "join", "leave"])
        self.assertEqual(self.client.get("/chat/lobby/members/").json()["count"], 1)

    def test_the_page_of_a_room(self):
        response = self.client.get("/chat/lobby/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Room “lobby”")
        self.assertContains(response, '"socket/?name="')
