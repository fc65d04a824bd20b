"""k. The race against Django Channels: one chat room written both ways.

- grip_views: ``bench/apps/views_chat.py`` (a ``JsonWebSocketView``: a say is
  one ``broadcast``), gunicorn with one gthread worker (4 threads, keep-alive:
  what the README recommends) behind Pushpin (the harness's tuned memory
  settings, ``message_rate=100000``).
- Channels: ``bench/apps/consumers_chat.py`` (an ``AsyncJsonWebsocketConsumer``:
  a say is one ``group_send``), daphne with channels_redis over a private
  redis-server (Debian's): the layer Channels needs to run on more than one
  process.

Both stacks run side by side on the same machine, the same clients
(bencj/race_clients.py) talk to both, and each measurement takes turns
(the order flips every round). Measured:

a. echo: 50 sockets each send messages one at a time, every one answered to
   the sender alone; messages per second per core = messages / CPU seconds of
   every process of the stack (proxy + app + Redis), and per second of wall time.
b. fan-out: one say reaching every socket of a room of 1,000 and 5,000:
   deliveries per second = subscribers / (last receipt - send), median of
   several rounds, each round checked complete.
c. memory: RSS of every process of the stack at 0, 1,000 and 5,000 held
   sockets (median of 3 samples), totals and KiB per connection.
d. connection churn: WebSocket open + closing handshake, 50 at a time;
   per second of wall time and per CPU second of the stack.
e. deploy: 1,000 sockets in a room; the app server is stopped (SIGTERM) and a
   new one started on the same port (and, for gunicorn, also reloaded with
   SIGHUP); a new client then joins and says one message: the old sockets
   still open that hear it are the clients kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

from bench import clients, procs
from bench.common import Result, Target, median, progress
from bench.race_clients import RawWebSocket, close_many, connect, open_many

TITLE = "k. The race against Django Channels: a chat room, grip_views + Pushpin vs Channels + Redis"

GV, CH = "grip_views + Pushpin + gunicorn", "Channels + daphne + channels_redis"
FAN_WAIT_S = 60


class Stack:
    """One side of the race: where clients connect, and every process it runs."""

    def __init__(self, label: str, ctx, server_name: str, kind: str, settings: str, env: dict, redis=None):
        self.label = label
        self.ctx = ctx
        self.server_name = server_name
        self.kind, self.settings, self.env = kind, settings, env  # how to start its app server
        self.redis = redis
        self.pushpin = None
        self.stats = None

    def start_server(self, port: int | None = None) -> procs.Server:
        """The app server, registered with the bench so that it is stopped by PID."""
        name, ctx = self.server_name, self.ctx
        progress(
            f"starting {self.kind} server {name} ({self.settings})" + (f" on port {port}" if port else "")
        )
        env = {"BENCH_GRIP_KEY": ctx.key, **self.env}
        server = procs.Server(name, self.kind, self.settings, ctx.logdir, env, port=port)
        ctx.servers[name] = server
        ctx.started.append({"name": name, "pids": [server.pid, *procs.children(server.pid)]})
        return server

    @property
    def server(self) -> procs.Server:
        return self.ctx.servers[self.server_name]

    @property
    def port(self) -> int:
        return int(self.pushpin.url.rsplit(":", 1)[1]) if self.pushpin else self.server.port

    @staticmethod
    def path(room: str) -> str:
        return f"/chat/{room}/"

    def pids(self) -> dict[str, list[int]]:
        parts = {"app": procs.descendants(self.server.pid)}
        if self.pushpin is not None:
            parts["proxy"] = [self.pushpin.pid, *self.pushpin.child_pids.values()]
        if self.redis is not None:
            parts["redis"] = [self.redis.proc.pid]
        return parts

    def cpu_ns(self) -> dict[str, int]:
        """CPU time used so far by each part's processes (every thread), ns."""
        out = {}
        for part, pids in self.pids().items():
            out[part] = 0
            for pid in pids:
                try:
                    out[part] += procs.cpu_ns(pid)
                except OSError:
                    pass
        return out

    def cpu_since(self, before: dict[str, int]) -> dict[str, int]:
        now = self.cpu_ns()
        return {part: now[part] - before.get(part, 0) for part in now}

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until the stack is idle (under 5 % of a core for half a second):
        what closing thousands of sockets left to do must not count next."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.cpu_ns()
            await asyncio.sleep(0.5)
            if sum(self.cpu_since(before).values()) < 0.05 * 0.5e9:
                return

    def rss(self) -> dict[str, int]:
        """Median of 3 samples of each part's RSS (bytes)."""
        samples: dict[str, list[int]] = {}
        for _ in range(3):
            for part, pids in self.pids().items():
                total = 0
                for pid in pids:
                    try:
                        total += procs.rss_bytes(pid)
                    except OSError:
                        pass
                samples.setdefault(part, []).append(total)
            time.sleep(0.1)
        return {part: int(median(values)) for part, values in samples.items()}

    async def wait_subscribed(self, room: str, n: int) -> None:
        """Pushpin subscribes a socket once the app's answer to OPEN reaches it;
        Channels' group_add comes before accept()."""
        if self.stats is not None and n:
            await asyncio.to_thread(self.stats.wait_subscribed, f"race-{room}", 120, subscribers=n, mode="ws")

    async def open(self, room: str, n: int) -> tuple[list[RawWebSocket], int]:
        held, failed = await open_many(self.port, self.path(room), n)
        await self.wait_subscribed(room, len(held))
        return held, failed


def _say(text: str) -> str:
    return json.dumps({"type": "say", "text": text})


async def fanout(stack: Stack, held: list[RawWebSocket], marker: str) -> tuple[int, float, dict]:
    """One say from the first socket still open: (receipts, seconds from send
    to the last, stack CPU ns by part until then)."""
    sender = next((ws for ws in held if ws.open), held[0])
    waits = [ws.expect(marker) for ws in held]
    cpu = stack.cpu_ns()
    start = time.perf_counter()
    sender.send(_say(marker))
    await asyncio.wait(waits, timeout=FAN_WAIT_S)
    spent = stack.cpu_since(cpu)
    times = [w.result() for w in waits if w.done() and w.result() is not None]
    return len(times), (max(times) - start) if times else float("nan"), spent


async def echo(stack: Stack, sockets: list[RawWebSocket], each: int, tag: str) -> tuple[int, float, dict]:
    """Each socket sends ``each`` messages, one at a time: (answered, wall s,
    stack CPU ns by part)."""

    async def one(i: int, ws: RawWebSocket) -> int:
        for k in range(each):
            text = f"echo-{tag}-{i}-{k}"
            arrived = ws.expect(text)
            ws.send(json.dumps({"type": "echo", "text": text}))
            try:
                if await asyncio.wait_for(arrived, 20) is None:
                    return k
            except asyncio.TimeoutError:
                return k
        return each

    cpu = stack.cpu_ns()
    start = time.perf_counter()
    answered = await asyncio.gather(*(one(i, ws) for i, ws in enumerate(sockets)))
    return sum(answered), time.perf_counter() - start, stack.cpu_since(cpu)


async def churn(stack: Stack, n: int, tag: str) -> tuple[int, dict, float, dict]:
    """n opens + closing handshakes, 50 at a time: (ok, statuses, wall s,
    stack CPU ns by part)."""
    path = stack.path(f"churn-{tag}")

    async def one(i: int):
        ws = await connect(stack.port, path)
        return 200 if await ws.close() else "no close"

    cpu = stack.cpu_ns()
    ok, statuses, elapsed = await clients.run_load(one, n)
    return ok, statuses, elapsed, stack.cpu_since(cpu)


def run(ctx, res: Result) -> None:
    from tests.servers import RedisServer

    redis = RedisServer().start()
    ctx.started.append({"name": "redis-race", "pids": [redis.proc.pid]})
    progress(f"k/race redis-server on port {redis.port} (pid {redis.proc.pid})")
    try:
        asyncio.run(_run(ctx, res, redis))
    finally:
        for name in ("race-gv", "race-ch", "race"):
            ctx.stop(name)
        progress(f"stopping redis-server (pid {redis.proc.pid})")
        redis.stop()


def _restart(stack: Stack) -> float:
    """SIGTERM the app server and start a new one on the same port: seconds without one."""
    old = stack.ctx.servers.pop(stack.server_name)
    progress(f"k/race deploy: SIGTERM {old.kind} {old.name} (pid {old.pid})")
    start = time.monotonic()
    old.stop()
    stack.start_server(port=old.port)
    return time.monotonic() - start


async def _run(ctx, res: Result, redis) -> None:
    from grip_views.testing.stats import PushpinStats

    smoke = ctx.smoke
    levels = [0, 10, 20] if smoke else [0, 1000, 5000]
    fan_rounds = 1 if smoke else 5
    echo_sockets, echo_each, echo_rounds = (3, 3, 1) if smoke else (50, 40, 3)
    churn_n, churn_rounds = (10, 1) if smoke else (1000, 3)
    deploy_n = 10 if smoke else 1000

    publish_port = procs.free_port()
    gv_env = {"BENCH_PUBLISH_URL": f"http://127.0.0.1:{publish_port}"}
    gv = Stack(GV, ctx, "race-gv", "gthread", "bench.apps.settings_race_gv", gv_env)
    ch = Stack(
        CH,
        ctx,
        "race-ch",
        "daphne",
        "bench.apps.settings_race_channels",
        {"BENCH_REDIS_URL": redis.url},
        redis,
    )
    gv.pushpin = ctx.pushpin("race", [f"* {gv.start_server().backend},over_http"], publish_port=publish_port)
    ch.start_server()
    with PushpinStats.of(gv.pushpin) as stats:
        gv.stats = stats
        stacks = [gv, ch]
        await _race(ctx, res, stacks, levels, fan_rounds, (echo_sockets, echo_each, echo_rounds))
        await _churn(res, stacks, churn_n, churn_rounds)
        await _deploy(res, stacks, deploy_n)
    _report(ctx, res, levels)


def _turns(stacks: list[Stack], r: int) -> list[Stack]:
    return stacks if r % 2 == 0 else stacks[::-1]


async def _race(ctx, res: Result, stacks: list[Stack], levels, fan_rounds: int, echo_sizes) -> None:
    """Memory and fan-out at each level of held sockets, then the echo."""
    for stack in stacks:  # warm: every code path served once before level 0
        warm, _ = await stack.open("warm", 20)
        await echo(stack, warm, 2, "warm")
        await fanout(stack, warm, "warm-say")
        await close_many(warm)
    await asyncio.sleep(0.2 if ctx.smoke else 1.0)
    held: dict[str, list[RawWebSocket]] = {s.label: [] for s in stacks}
    memory: dict = {}
    fan: dict = {}
    for level in levels:
        for stack in stacks:
            if level:
                progress(f"k/race {stack.label}: opening to {level:,} sockets")
                more, failed = await stack.open("fan", level - len(held[stack.label]))
                held[stack.label] += more
                res.check(
                    f"{stack.label}, {level:,}: every socket opened",
                    failed == 0 and len(held[stack.label]) == level,
                    f"{len(held[stack.label]):,} open, {failed} failed",
                )
                await stack.wait_subscribed("fan", level)
            await asyncio.sleep(0.1 if ctx.smoke else 0.5)
            memory[(stack.label, level)] = stack.rss()
        if not level:
            continue
        for stack in stacks:  # one untimed round: the first delivery of a subscription
            got, _, _ = await fanout(stack, held[stack.label], f"fan-{level}-warm")
            res.check(
                f"{stack.label}, {level:,}: the first say reaches every socket",
                got == level,
                f"{got:,} of {level:,}",
            )
        for r in range(fan_rounds):
            for stack in _turns(stacks, r):
                got, seconds, cpu = await fanout(stack, held[stack.label], f"fan-{level}-{r}")
                fan.setdefault((stack.label, level), []).append((got, seconds, cpu))
                progress(f"k/race fan-out {level:,} round {r + 1}: {stack.label}: {got:,} in {seconds:.3f} s")
        for stack in stacks:
            rounds = fan[(stack.label, level)]
            res.check(
                f"{stack.label}, {level:,}: every say of {len(rounds)} timed rounds reaches every socket",
                all(got == level for got, _, _ in rounds),
                f"{[got for got, _, _ in rounds]}",
            )

    sockets, each, rounds = echo_sizes
    echoes: dict = {}
    for r in range(rounds):
        for stack in _turns(stacks, r):
            answered, wall, cpu = await echo(stack, held[stack.label][:sockets], each, f"{r}")
            echoes.setdefault(stack.label, []).append((answered, wall, cpu))
            progress(
                f"k/race echo round {r + 1}: {stack.label}: {answered:,} in {wall:.2f} s, "
                f"stack CPU {sum(cpu.values()) / 1e9:.2f} s"
            )
    for stack in stacks:
        res.check(
            f"{stack.label}: every echo answered ({sockets} sockets x {each} x {rounds} rounds)",
            all(a == sockets * each for a, _, _ in echoes[stack.label]),
            f"{[a for a, _, _ in echoes[stack.label]]}",
        )
    for stack in stacks:
        still = sum(ws.open for ws in held[stack.label])
        res.check(
            f"{stack.label}: no held socket closed by the server during the race",
            still == len(held[stack.label]),
            f"{still:,} of {len(held[stack.label]):,} still open",
        )
        progress(f"k/race closing {len(held[stack.label]):,} {stack.label} sockets")
        await close_many(held[stack.label])
    for stack in stacks:
        await stack.settle()
    res.data.update(
        {
            "memory": {f"{k[0]} / {k[1]}": v for k, v in memory.items()},
            "fanout": {f"{k[0]} / {k[1]}": v for k, v in fan.items()},
            "echo": echoes,
        }
    )
    res.data["_memory"], res.data["_fan"] = memory, fan


async def _churn(res: Result, stacks: list[Stack], n: int, rounds: int) -> None:
    out: dict = {}
    for r in range(rounds):
        for stack in _turns(stacks, r):
            ok, statuses, wall, cpu = await churn(stack, n, f"{r}")
            out.setdefault(stack.label, []).append((ok, wall, cpu))
            progress(
                f"k/race churn round {r + 1}: {stack.label}: {ok}/{n} in {wall:.2f} s, "
                f"stack CPU {sum(cpu.values()) / 1e9:.2f} s {statuses if ok != n else ''}"
            )
    for stack in stacks:
        res.check(
            f"{stack.label}: every open + close of {rounds} x {n:,} completed",
            all(ok == n for ok, _, _ in out[stack.label]),
            f"{[ok for ok, _, _ in out[stack.label]]}",
        )
    res.data["churn"] = out


def _reload(stack: Stack) -> float:
    """SIGHUP to the gunicorn master: new workers, the old ones stopped
    gracefully; seconds until the old worker is gone and a new one answers."""
    server = stack.server
    old = set(procs.children(server.pid))
    progress(f"k/race deploy: SIGHUP gunicorn {server.name} (pid {server.pid}, workers {sorted(old)})")
    start = time.monotonic()
    os.kill(server.pid, signal.SIGHUP)

    def reloaded() -> bool:
        kids = set(procs.children(server.pid))
        return bool(kids) and not kids & old and procs.http_status(server.url + "/health/") == 200

    procs.wait_until(reloaded, 60, f"{server.name} reload", server.alive)
    stack.ctx.started.append({"name": f"{server.name} (reloaded)", "pids": procs.children(server.pid)})
    return time.monotonic() - start


async def _deploy(res: Result, stacks: list[Stack], n: int) -> None:
    gv, ch = stacks
    deployments = [
        (gv, "SIGTERM, new server on the port", _restart),
        (gv, "SIGHUP (gunicorn's graceful reload)", _reload),
        (ch, "SIGTERM, new server on the port", _restart),
    ]
    out: list = []
    for i, (stack, how, deploy) in enumerate(deployments):
        room = f"deploy-{i}"
        progress(f"k/race deploy {stack.label}, {how}: {n:,} sockets")
        held, failed = await stack.open(room, n)
        got, _, _ = await fanout(stack, held, "before-deploy")
        res.check(
            f"{stack.label}, deploy by {how}: {n:,} sockets open and hear a say before",
            failed == 0 and got == n,
            f"{len(held):,} open, {failed} failed, {got:,} heard it",
        )
        down = await asyncio.to_thread(deploy, stack)
        await asyncio.sleep(0.3 if stack.ctx.smoke else 1.0)  # let every close the restart caused arrive
        still_open = sum(ws.open for ws in held)
        # A client joining after the deploy says one message: the new server
        # serves it, and every old socket still there must hear it.
        newcomer = await connect(stack.port, stack.path(room))
        await stack.wait_subscribed(room, still_open + 1)
        waits = [ws.expect("after-deploy") for ws in held]
        mine = newcomer.expect("after-deploy")
        newcomer.send(_say("after-deploy"))
        await asyncio.wait([*waits, mine], timeout=FAN_WAIT_S)
        kept = sum(1 for w in waits if w.done() and w.result() is not None)
        heard = mine.done() and mine.result() is not None
        res.check(
            f"{stack.label}, deploy by {how}: the new server serves a new client's say",
            heard,
            "heard its own say" if heard else "did not hear its own say",
        )
        out.append(
            {
                "stack": stack.label,
                "how": how,
                "clients": n,
                "still_open": still_open,
                "kept": kept,
                "down_s": down,
            }
        )
        progress(
            f"k/race deploy {stack.label}, {how}: {still_open:,} open after, {kept:,} heard the say; "
            f"{down:.2f} s"
        )
        await close_many([ws for ws in held if ws.open] + [newcomer])
    res.data["deploy"] = out


def _per_item(rounds: list) -> tuple[float, float, dict[str, float]]:
    """Over rounds of (items, wall s, stack CPU ns by part): medians of items
    per CPU second, items per wall second, and CPU µs per item by part."""
    per_core = median([n / (sum(cpu.values()) / 1e9) for n, _, cpu in rounds if sum(cpu.values())])
    per_s = median([n / wall for n, wall, _ in rounds if wall == wall and wall > 0])
    parts = {part: median([cpu[part] / 1e3 / max(n, 1) for n, _, cpu in rounds]) for part in rounds[0][2]}
    return per_core, per_s, parts


def _cpu_cell(parts: dict[str, float]) -> str:
    """ "2,861 (proxy 2,100 + app 761)": the total, then each part's share."""
    named = [f"{name} {parts[name]:,.0f}" for name in ("proxy", "app", "redis") if name in parts]
    return f"{sum(parts.values()):,.0f} ({' + '.join(named)})"


def _report(ctx, res: Result, levels) -> None:
    memory, fan = res.data.pop("_memory"), res.data.pop("_fan")
    labels = [GV, CH]
    top = levels[-1]

    echo_row = {label: _per_item(res.data["echo"][label]) for label in labels}
    churn_row = {label: _per_item(res.data["churn"][label]) for label in labels}
    fan_row = {(label, level): _per_item(fan[(label, level)]) for label in labels for level in levels[1:]}
    fan_rate = {key: row[1] for key, row in fan_row.items()}
    fan_ms = {
        (label, level): median([s * 1e3 for _, s, _ in fan[(label, level)] if s == s])
        for label in labels
        for level in levels[1:]
    }

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "-"

    def rate(name: str, gv: float, ch: float, suffix: tuple[str, str] = ("", "")) -> list[str]:
        return [name, f"{gv:,.0f}{suffix[0]}", f"{ch:,.0f}{suffix[1]}", ratio(gv, ch)]

    def cpu(name: str, gv: dict, ch: dict) -> list[str]:
        return [name, _cpu_cell(gv), _cpu_cell(ch), ratio(sum(gv.values()), sum(ch.values()))]

    rows = [
        rate("a. echo, messages per second per core (stack CPU)", echo_row[GV][0], echo_row[CH][0]),
        rate(
            "a. echo, messages per second (wall, 50 sockets, one in flight each)",
            echo_row[GV][1],
            echo_row[CH][1],
        ),
        cpu("a. echo, stack CPU µs per message", echo_row[GV][2], echo_row[CH][2]),
    ]
    for level in levels[1:]:
        rows.append(
            rate(
                f"b. fan-out to {level:,}, deliveries per second (send to last receipt)",
                fan_rate[(GV, level)],
                fan_rate[(CH, level)],
                (f" ({fan_ms[(GV, level)]:,.0f} ms)", f" ({fan_ms[(CH, level)]:,.0f} ms)"),
            )
        )
        rows.append(
            cpu(
                f"b. fan-out to {level:,}, stack CPU µs per delivery",
                fan_row[(GV, level)][2],
                fan_row[(CH, level)][2],
            )
        )
    totals = {(label, level): sum(memory[(label, level)].values()) for label in labels for level in levels}
    per_conn = {
        (label, level): (totals[(label, level)] - totals[(label, 0)]) / level / 1024
        for label in labels
        for level in levels[1:]
    }
    for level in levels[1:]:
        rows.append(
            [
                f"c. memory per held connection at {level:,}, KiB (all processes)",
                f"{per_conn[(GV, level)]:.1f}",
                f"{per_conn[(CH, level)]:.1f}",
                ratio(per_conn[(GV, level)], per_conn[(CH, level)]),
            ]
        )
    rows.append(
        [
            f"c. total memory at {top:,} held connections, MiB",
            f"{totals[(GV, top)] / 2**20:.1f}",
            f"{totals[(CH, top)] / 2**20:.1f}",
            ratio(totals[(GV, top)], totals[(CH, top)]),
        ]
    )
    rows += [
        rate("d. opens + closes per second (wall, 50 at a time)", churn_row[GV][1], churn_row[CH][1]),
        rate("d. opens + closes per second per core (stack CPU)", churn_row[GV][0], churn_row[CH][0]),
        cpu("d. stack CPU µs per open + close", churn_row[GV][2], churn_row[CH][2]),
    ]
    deploy = res.data["deploy"]
    by_sigterm = {d["stack"]: d for d in deploy if d["how"].startswith("SIGTERM")}
    rows.append(
        [
            "e. clients kept when the app server is stopped and a new one started (SIGTERM)",
            f"{by_sigterm[GV]['kept']:,} of {by_sigterm[GV]['clients']:,}",
            f"{by_sigterm[CH]['kept']:,} of {by_sigterm[CH]['clients']:,}",
            "-",
        ]
    )
    res.tables.append(
        (
            "side by side (ratio: grip_views / Channels; higher is better but for CPU µs and memory); "
            "medians of interleaved rounds",
            ["figure", GV, CH, "ratio"],
            rows,
        )
    )

    mem_rows = []
    for label in labels:
        for level in levels:
            parts = memory[(label, level)]
            mem_rows.append(
                [
                    label,
                    f"{level:,}",
                    f"{parts.get('proxy', 0) / 2**20:.1f}" if "proxy" in parts else "-",
                    f"{parts['app'] / 2**20:.1f}",
                    f"{parts.get('redis', 0) / 2**20:.1f}" if "redis" in parts else "-",
                    f"{totals[(label, level)] / 2**20:.1f}",
                    f"{per_conn[(label, level)]:.1f}" if level else "-",
                ]
            )
    res.tables.append(
        (
            "c. RSS of every process of each stack, MiB (median of 3 samples): proxy = Pushpin's runner and "
            "its 4 services; app = gunicorn master + worker, or daphne; Redis = redis-server",
            ["stack", "held WebSockets", "proxy", "app", "Redis", "total", "KiB per connection"],
            mem_rows,
        )
    )
    res.tables.append(
        (
            "e. deploy: the app server restarted under held sockets, then a new client's say",
            [
                "stack",
                "deploy",
                "connected",
                "still open after",
                "heard the say (kept)",
                "dropped",
                "seconds",
            ],
            [
                [
                    d["stack"],
                    d["how"],
                    f"{d['clients']:,}",
                    f"{d['still_open']:,}",
                    f"{d['kept']:,}",
                    f"{d['clients'] - d['kept']:,}",
                    f"{d['down_s']:.2f}",
                ]
                for d in deploy
            ],
        )
    )

    for level in levels[1:]:
        res.targets.append(
            Target(
                f"fan-out to {level:,} sockets: grip_views / Channels deliveries per second",
                fan_rate[(GV, level)] / fan_rate[(CH, level)],
                3.0,
                ">=",
            )
        )
    res.targets.append(
        Target(
            f"total memory (proxy + app + Redis) at {top:,} held sockets: grip_views / Channels",
            totals[(GV, top)] / totals[(CH, top)],
            1.0,
            "<=",
            note=f"{totals[(GV, top)] / 2**20:.0f} vs {totals[(CH, top)] / 2**20:.0f} MiB",
        )
    )
    gv_dropped = max(d["clients"] - d["kept"] for d in deploy if d["stack"] == GV)
    res.targets.append(
        Target(
            f"clients dropped when the app server restarts, grip_views (of {by_sigterm[GV]['clients']:,}, "
            "worst of SIGTERM + new server and SIGHUP)",
            gv_dropped,
            0,
            "<=",
            unit=" clients",
            note=f"Channels: {by_sigterm[CH]['clients'] - by_sigterm[CH]['kept']:,} dropped",
        )
    )

    wins = []
    if echo_row[CH][0] > echo_row[GV][0]:
        wins.append(f"echo, {echo_row[CH][0] / echo_row[GV][0]:.1f}x the messages per core")
    for level in levels[1:]:
        if fan_rate[(CH, level)] > fan_rate[(GV, level)]:
            wins.append(f"fan-out to {level:,}, {fan_rate[(CH, level)] / fan_rate[(GV, level)]:.1f}x")
    if per_conn[(CH, top)] < per_conn[(GV, top)]:
        wins.append(
            f"memory, {per_conn[(CH, top)]:.0f} KiB per held socket against {per_conn[(GV, top)]:.0f}"
        )
    if totals[(CH, 0)] < totals[(GV, 0)]:
        wins.append(
            f"memory at start, {totals[(CH, 0)] / 2**20:.0f} MiB against {totals[(GV, 0)] / 2**20:.0f}"
        )
    if churn_row[CH][0] > churn_row[GV][0]:
        wins.append(f"opens + closes, {churn_row[CH][0] / churn_row[GV][0]:.1f}x per core")
    res.notes.append(
        "Where Channels wins in this run: " + ("; ".join(wins) if wins else "nowhere") + ". A message a "
        "client sends for its own answer is a WebSocket-over-HTTP request from Pushpin to Django (most of "
        "its CPU is Pushpin's hops); a Channels consumer already holds the socket in its own process."
    )
    res.notes += [
        "channels_redis 4.3 with redis-py 8 is set up with socket_timeout=None and max_connections=5000 "
        "(bench/apps/settings_race_channels.py). With redis-py 8's default timeout of 5 s the layer's "
        "blocking read times out when idle and takes its consumer's socket down (seen here: 0 of 5,000 "
        "sockets reached; django/channels_redis issue 422); with its default pool of 100 connections, "
        "closing thousands of sockets and the 50-at-a-time churn made daphne fail group_discard and "
        "group_add calls with `Too many connections` (one handshake of 3,000 refused; with 1000, "
        "about 1,350 of 5,000 group_discard calls still failed when the held sockets closed).",
        "The same chat room both ways (bench/apps/views_chat.py, bench/apps/consumers_chat.py): a say is "
        "one publish (grip_views' broadcast, blocking, from the gunicorn worker to Pushpin) or one "
        "group_send (channels_redis), to every socket of the room, the sender too; any other message is "
        "answered to the sender alone. gunicorn runs one gthread worker of 4 threads with keep-alive "
        "(the README's recommendation); daphne one process; Redis is Debian's redis-server.",
        "Per core = per CPU second of every process of the stack (Pushpin's runner and services + "
        "gunicorn master and worker; daphne + redis-server), read from /proc: what the work costs the "
        "machine, whatever the load of the other jobs on it. Wall-time rates share the two cores with "
        "the load generator (one asyncio process, bencj/race_clients.py) and the other stack, idle.",
        "Fan-out: time from the say leaving the sender to the last of the room's sockets receiving it, "
        "measured in the client process; deliveries per second = sockets / that time.",
        "Memory per connection = (total at the level - total with none held) / level. Pushpin's RSS "
        "is most of grip_views' total: the Django worker does not grow with held connections (bench d), "
        "the proxy does (bench f).",
        "Deploy: kept = sockets opened before the restart that are still open after it and hear a say "
        "made after it by a client that joined the new server; seconds = from the signal until the "
        "new server (or gunicorn's new worker) answers. Pushpin holds the sockets and sends "
        "later events to whatever answers on the backend port; daphne holds them itself, so stopping "
        "it closes them all: a Channels client must reconnect (and rejoin its groups), every one at once.",
    ]
    res.data["derived"] = {
        "echo": echo_row,
        "churn": churn_row,
        "fan_rate": {f"{k[0]} / {k[1]}": v for k, v in fan_rate.items()},
        "per_conn_kib": {f"{k[0]} / {k[1]}": v for k, v in per_conn.items()},
        "total_mib": {f"{k[0]} / {k[1]}": v / 2**20 for k, v in totals.items()},
    }
    groups = ["echo / s / core", *(f"fan-out {lv:,} / s" for lv in levels[1:]), "opens+closes / s / core"]
    series = {
        label: {
            groups[0]: echo_row[label][0],
            **{f"fan-out {lv:,} / s": fan_rate[(label, lv)] for lv in levels[1:]},
            groups[-1]: churn_row[label][0],
        }
        for label in labels
    }
    ctx.plots.bars(
        res, "k_race", "k. The race: higher is better (log scale)", groups, series, "per second", log=True
    )
    mem_groups = [f"{lv:,} held" for lv in levels]
    ctx.plots.bars(
        res,
        "k_race_memory",
        "k. Total RSS of each stack (proxy + app + Redis), lower is better",
        mem_groups,
        {label: {f"{lv:,} held": totals[(label, lv)] / 2**20 for lv in levels} for label in labels},
        "MiB",
    )
