// grip-socket.js against a fake WebSocket and fake timers (node --test; run by
// tests/test_grip_socket_js.py). The real thing is tested in Chromium through Pushpin
// by tests/e2e/test_demo.py; this covers what a real network rarely shows on demand.
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const path = require("node:path");

class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    FakeSocket.made.push(this);
  }
  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen({});
  }
  deliver(message) {
    this.onmessage({ data: typeof message === "string" ? message : JSON.stringify(message) });
  }
  send(data) {
    this.sent.push(data);
  }
  close(code = 1000) {
    this.closedWith = code;
    this.drop(code);
  }
  drop(code = 1006) {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.onclose({ code, reason: "" });
  }
}
Object.assign(FakeSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3, made: [] });

const timers = [];
globalThis.WebSocket = FakeSocket;
globalThis.location = { href: "https://example.test/page/" };
globalThis.setTimeout = (fn, delay) => timers.push({ fn, delay }) && timers.length;
globalThis.clearTimeout = () => {};
const GripSocket = require(path.join(__dirname, "../../grip_views/static/grip_views/grip-socket.js"));

function fresh(options) {
  FakeSocket.made.length = 0;
  timers.length = 0;
  const socket = new GripSocket("/events/ws/", options);
  const got = [];
  socket.onmessage = (data, id) => got.push([data, id]);
  return { socket, got, last: () => FakeSocket.made[FakeSocket.made.length - 1] };
}

function fire() {
  const timer = timers.shift();
  timer.fn();
  return timer.delay;
}

test("a relative url becomes wss: on an https page; a resume sends last_id", () => {
  const { socket, got, last } = fresh();
  assert.strictEqual(last().url, "wss://example.test/events/ws/");
  last().open();
  last().deliver({ id: "7", event: "caught-up", missed: 0 });
  assert.strictEqual(socket.lastId, "7"); // known before any event
  last().deliver({ id: "8", data: { n: 1 } });
  last().drop();
  fire();
  assert.strictEqual(last().url, "wss://example.test/events/ws/?last_id=8");
  assert.deepStrictEqual(got, [[{ n: 1 }, "8"]]);
});

test("repeated ids are dropped; a gap reconnects at once from the last id", () => {
  const { socket, got, last } = fresh({ lastId: 3 });
  assert.ok(last().url.endsWith("?last_id=3"));
  last().open();
  last().deliver({ id: "4", data: "a" });
  last().deliver({ id: "4", data: "a" });
  last().deliver({ id: "3", data: "old" });
  assert.strictEqual(socket.duplicates, 2);
  last().deliver({ id: "6", data: "c" }); // 5 passed us by
  assert.strictEqual(last().closedWith, 4000);
  assert.strictEqual(socket.gaps, 1);
  assert.strictEqual(fire(), 0);
  assert.ok(last().url.endsWith("?last_id=4"));
  last().open();
  last().deliver({ id: "5", data: "b" });
  last().deliver({ id: "6", data: "c" });
  assert.deepStrictEqual(got, [["a", "4"], ["b", "5"], ["c", "6"]]);
});

test("oncaughtup tells how many the server replayed, and whether it is a reconnect", () => {
  const { socket, last } = fresh();
  const seen = [];
  socket.oncaughtup = (missed, info) => seen.push([missed, info.lastId, info.reconnect]);
  last().open();
  last().deliver({ id: "2", event: "caught-up", missed: 0 });
  last().drop();
  fire();
  last().open();
  last().deliver({ id: "3", data: "x" });
  last().deliver({ id: "5", data: "y" }); // a gap: ignored after it, until the resume
  last().deliver({ id: "4", data: "late" });
  fire();
  last().open();
  last().deliver({ id: "4", data: "z" });
  last().deliver({ id: "5", data: "y" });
  last().deliver({ id: "5", event: "caught-up", missed: 2 });
  assert.deepStrictEqual(seen, [[0, "2", false], [2, "5", true]]);
  assert.strictEqual(socket.totalCaughtUp, 2);
  assert.strictEqual(socket.caughtUp, 2);
});

test("a paged replay reconnects at once from each page's last id, and is caught up once", () => {
  const { socket, got, last } = fresh({ lastId: 0 });
  const seen = [];
  socket.oncaughtup = (missed, info) => seen.push([missed, info.lastId]);
  last().open();
  last().deliver({ id: "1", data: "a" });
  last().deliver({ id: "2", data: "b" });
  last().deliver({ id: "2", event: "caught-up", missed: 2, more: true });
  assert.strictEqual(last().closedWith, 4000); // dropped for the next page
  assert.strictEqual(fire(), 0);
  assert.ok(last().url.endsWith("?last_id=2"));
  last().open();
  last().deliver({ id: "3", data: "c" });
  last().deliver({ id: "3", event: "caught-up", missed: 1 });
  assert.deepStrictEqual(got, [["a", "1"], ["b", "2"], ["c", "3"]]);
  assert.deepStrictEqual(seen, [[3, "3"]]);
  assert.strictEqual(socket.pages, 1);
  assert.strictEqual(socket.caughtUp, 3);
  assert.strictEqual(timers.length, 0); // caught up: no reconnect pending
});

test("a reset for a message too big to replay, then more: reported, and on from after it", () => {
  const { socket, got, last } = fresh({ lastId: 1 });
  let reset = null;
  socket.onreset = (id) => (reset = id);
  last().open();
  last().deliver({ id: "2", event: "reset" });
  last().deliver({ id: "2", event: "caught-up", missed: 1, more: true });
  assert.strictEqual(reset, "2");
  assert.strictEqual(fire(), 0);
  assert.ok(last().url.endsWith("?last_id=2"));
  last().open();
  last().deliver({ id: "3", data: "after" });
  assert.deepStrictEqual(got, [["after", "3"]]);
});

test("a reset is reported and the socket goes on from its id", () => {
  const { socket, last } = fresh({ lastId: 1 });
  let reset = null;
  socket.onreset = (id) => (reset = id);
  last().open();
  last().deliver({ id: "90", event: "reset" });
  assert.strictEqual(reset, "90");
  assert.strictEqual(socket.lastId, "90");
});

test("a snapshot gives the state and the version the events follow", () => {
  const { socket, got, last } = fresh();
  let snapshot = null;
  socket.onsnapshot = (data, id) => (snapshot = [data, id]);
  last().open();
  last().deliver({ id: "12", event: "snapshot", data: { items: [1, 2] } });
  last().deliver({ id: "12", event: "caught-up", missed: 0 });
  last().deliver({ id: "13", data: "next" });
  assert.deepStrictEqual(snapshot, [{ items: [1, 2] }, "12"]);
  assert.deepStrictEqual(got, [["next", "13"]]);
});

test("messages that are not durable events pass through with a null id", () => {
  const { got, last } = fresh();
  last().open();
  last().deliver("plain text");
  last().deliver({ error: "nope" });
  last().deliver("{not json");
  assert.deepStrictEqual(got, [["plain text", null], ['{"error":"nope"}', null], ["{not json", null]]);
});

test("failed tries back off exponentially, bounded by maxDelay, with jitter below the bound", () => {
  const { socket, last } = fresh({ minDelay: 100, maxDelay: 1000 });
  const delays = [];
  for (let n = 0; n < 8; n++) {
    last().drop(); // never opened: a failed try
    delays.push(fire());
  }
  const bounds = [200, 400, 800, 1000, 1000, 1000, 1000, 1000];
  delays.forEach((delay, n) => {
    assert.ok(delay <= bounds[n] && delay >= bounds[n] / 2, `try ${n}: ${delay} ms, bound ${bounds[n]}`);
  });
  assert.strictEqual(socket.attempt, 8);
  last().open();
  assert.strictEqual(socket.attempt, 0); // an open resets the backoff
  assert.deepStrictEqual(
    [0, 1, 5].map((a) => GripSocket.backoff(a, GripSocket.DEFAULTS, () => 0)),
    [500, 1000, 16000],
  );
  assert.strictEqual(GripSocket.backoff(30, GripSocket.DEFAULTS, () => 1), 15000);
});

test("close() ends retries; 1000 and 1008 from the app are not retried; maxRetries gives up", () => {
  let { socket, last } = fresh();
  last().open();
  assert.strictEqual(socket.send("hi"), true);
  assert.deepStrictEqual(last().sent, ["hi"]);
  socket.close();
  assert.strictEqual(timers.length, 0);
  assert.strictEqual(socket.send("late"), false);
  for (const code of [1000, 1008]) {
    ({ socket, last } = fresh());
    let next = null;
    socket.onclose = (event, info) => (next = info);
    last().open();
    last().drop(code);
    assert.deepStrictEqual(next, { retry: false, delay: null });
    assert.strictEqual(timers.length, 0);
  }
  ({ socket, last } = fresh({ maxRetries: 2 }));
  last().drop();
  fire();
  last().drop();
  fire();
  last().drop();
  assert.strictEqual(timers.length, 0);
});
