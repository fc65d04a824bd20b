/*!
 * grip-socket.js: a browser WebSocket for grip_views' durable WebSocketView.
 * Part of grip_views (MIT). No dependency, no build step: load it with
 *   <script src="{% static 'grip_views/grip-socket.js' %}"></script>
 *
 * It reconnects with jittered exponential backoff, resumes from the last id it
 * saw (?last_id=, which a durable WebSocketView answers with what was missed,
 * then a "caught-up" message), drops a message whose id it already has, and on
 * a gap in the ids (a publish that raced its reconnect) reconnects with its
 * last id. A replay too long for one open comes in pages (the caught-up
 * message says "more": true): it reconnects at once from the page's last id.
 * Ids are a channel's, consecutive: a durable view has one channel.
 *
 *   const socket = new GripSocket("/events/ws/", { minDelay: 500, maxDelay: 30000 });
 *   socket.onmessage = (data, id) => { ... };        // each event once, in id order
 *   socket.oncaughtup = (missed, info) => { ... };   // after each (re)connect's replay
 *   socket.send("text");                              // false while not connected
 *   socket.close();                                   // and no more reconnects
 *
 * Callbacks (set the ones you need):
 *   onopen({reconnect, attempt})   the socket opened (reconnect: not the first time)
 *   onmessage(data, id, event)     an event: `data` is what was published, `id` its id
 *                                  (a string); a message that is not {"id", "data"} JSON
 *                                  (a view's own send()) comes as (event.data, null, event)
 *   oncaughtup(missed, info)       the server replayed `missed` events (all pages of a
 *                                  paged replay: once, after the last); info: {lastId,
 *                                  reconnect}; 0 on a first connection
 *   onreset(lastId)                the server no longer has what was missed: reload your
 *                                  state; the socket goes on from lastId
 *   onsnapshot(data, id)           a first connection's state at version `id` (a view with
 *                                  get_snapshot()); the events after it follow
 *   onclose(event, {retry, delay}) the connection ended; retry says if it reconnects,
 *                                  in `delay` ms
 *   onerror(event)                 the WebSocket's error event
 * Properties: lastId (string or null), caughtUp (missed count of the last connect),
 * totalCaughtUp, duplicates (ids dropped), gaps (reconnects on a gap), pages
 * (reconnects for the next page of a replay), attempt,
 * readyState (the current WebSocket's, or WebSocket.CLOSED).
 */
(function (root) {
  "use strict";

  const DEFAULTS = {
    lastId: null, // resume from this id on the first connection (e.g. rendered by the page)
    lastIdParam: "last_id", // WebSocketView.last_id_param
    caughtUpEvent: "caught-up", // WebSocketView.caught_up_event
    resetEvent: "reset", // WebSocketView.reset_event
    snapshotEvent: "snapshot", // WebSocketView.snapshot_event
    minDelay: 500, // ms before the first reconnect
    maxDelay: 30000, // ms, the longest wait between two tries
    factor: 2, // each failed try waits this much longer
    jitter: 0.5, // each wait is cut by a random fraction up to this, so clients spread out
    maxRetries: Infinity, // failed tries in a row before giving up
    protocols: undefined, // WebSocket subprotocols
    // Whether to reconnect after this close; by default not after 1000 (the app
    // closed the conversation) nor 1008 (the app refused this client).
    shouldReconnect: (event) => event.code !== 1000 && event.code !== 1008,
  };

  /** The delay before try `attempt` (0-based): exponential, bounded, jittered. */
  function backoff(attempt, options, random) {
    const bound = Math.min(options.maxDelay, options.minDelay * Math.pow(options.factor, attempt));
    return Math.round(bound * (1 - options.jitter * random()));
  }

  class GripSocket {
    constructor(url, options) {
      this.options = Object.assign({}, DEFAULTS, options || {});
      this.url = url;
      this.lastId = this.options.lastId == null ? null : String(this.options.lastId);
      this.caughtUp = 0;
      this.totalCaughtUp = 0;
      this.duplicates = 0;
      this.gaps = 0;
      this.pages = 0;
      this._paged = 0; // missed events of the pages of this replay so far
      this.attempt = 0;
      this.onopen = this.onmessage = this.oncaughtup = this.onreset = this.onsnapshot = null;
      this.onclose = this.onerror = null;
      this._opens = 0;
      this._socket = null;
      this._dropping = null;
      this._timer = null;
      this._closed = false;
      this._connect();
    }

    get readyState() {
      return this._socket ? this._socket.readyState : WebSocket.CLOSED;
    }

    /** Send `data` (string, Blob, ArrayBuffer); false (nothing sent) while not open. */
    send(data) {
      if (!this._socket || this._socket.readyState !== WebSocket.OPEN) return false;
      this._socket.send(data);
      return true;
    }

    /** Close for good: no reconnect after this. */
    close(code, reason) {
      this._closed = true;
      clearTimeout(this._timer);
      if (this._socket) this._socket.close(code || 1000, reason);
    }

    /** Reconnect now (resuming from lastId), e.g. when the page is back online. */
    reconnect() {
      if (this._closed) return;
      clearTimeout(this._timer);
      if (this._socket && this._socket.readyState <= WebSocket.OPEN) {
        this._drop(this._socket, "reconnect");
      } else {
        this._connect();
      }
    }

    /** Close `socket` to reconnect at once, ignoring what it still delivers. */
    _drop(socket, reason) {
      this._dropping = socket;
      socket.close(4000, reason);
    }

    _href() {
      const href = new URL(this.url, root.location ? root.location.href : undefined);
      if (href.protocol === "http:") href.protocol = "ws:";
      if (href.protocol === "https:") href.protocol = "wss:";
      if (this.lastId !== null) href.searchParams.set(this.options.lastIdParam, this.lastId);
      return href.toString();
    }

    _connect() {
      this._timer = null;
      const socket = new WebSocket(this._href(), this.options.protocols);
      this._socket = socket;
      let opened = false;
      socket.onopen = () => {
        opened = true;
        const reconnect = this._opens++ > 0;
        const attempt = this.attempt;
        this.attempt = 0;
        this._call("onopen", { reconnect, attempt });
      };
      socket.onmessage = (event) => {
        if (socket === this._socket && socket !== this._dropping) this._message(event, socket);
      };
      socket.onerror = (event) => this._call("onerror", event);
      socket.onclose = (event) => {
        if (socket !== this._socket) return;
        this._socket = null;
        const dropped = this._dropping === socket;
        this._dropping = null;
        if (!opened) this.attempt++;
        const retry =
          !this._closed &&
          (dropped || this.options.shouldReconnect(event)) &&
          this.attempt <= this.options.maxRetries;
        // A gap or reconnect() goes again at once; a failure waits its backoff.
        const delay = dropped ? 0 : backoff(this.attempt, this.options, Math.random);
        this._call("onclose", event, { retry, delay: retry ? delay : null });
        if (retry) this._timer = setTimeout(() => this._connect(), delay);
      };
    }

    _message(event, socket) {
      let message = null;
      if (typeof event.data === "string" && event.data.charAt(0) === "{") {
        try {
          message = JSON.parse(event.data);
        } catch (e) {
          message = null;
        }
      }
      const id = message && typeof message.id === "string" ? message.id : null;
      if (id === null || !/^[0-9]+$/.test(id)) {
        this._call("onmessage", event.data, null, event); // not a durable event
        return;
      }
      if (message.event === this.options.resetEvent) {
        this.lastId = id;
        this._call("onreset", id);
        return;
      }
      if (message.event === this.options.snapshotEvent) {
        this.lastId = id; // the state at this version; events after it follow
        this._call("onsnapshot", message.data, id);
        return;
      }
      if (message.event === this.options.caughtUpEvent) {
        if (this.lastId === null || Number(id) > Number(this.lastId)) this.lastId = id;
        const missed = Number(message.missed) || 0;
        this.totalCaughtUp += missed;
        this._paged += missed;
        if (message.more === true) {
          this.pages++; // one page of a long replay: the next from lastId, at once
          this._drop(socket, "more");
          return;
        }
        this.caughtUp = this._paged;
        this._paged = 0;
        this._call("oncaughtup", this.caughtUp, { lastId: this.lastId, reconnect: this._opens > 1 });
        return;
      }
      if (!("data" in message)) {
        this._call("onmessage", event.data, null, event);
        return;
      }
      if (this.lastId !== null) {
        const last = Number(this.lastId);
        if (Number(id) <= last) {
          this.duplicates++; // replayed and live both, or sent twice: had it
          return;
        }
        if (Number(id) > last + 1) {
          this.gaps++; // a publish passed this socket by while it (re)subscribed
          this._drop(socket, "gap");
          return;
        }
      }
      this.lastId = id;
      this._call("onmessage", message.data, id, event);
    }

    _call(name, ...args) {
      const callback = this[name];
      if (typeof callback !== "function") return;
      try {
        callback.apply(this, args);
      } catch (error) {
        setTimeout(() => {
          throw error; // reported as uncaught, without breaking the socket
        });
      }
    }
  }

  GripSocket.DEFAULTS = DEFAULTS;
  GripSocket.backoff = backoff;
  root.GripSocket = GripSocket;
  if (typeof module === "object" && module.exports) module.exports = GripSocket;
})(typeof window !== "undefined" ? window : globalThis);
