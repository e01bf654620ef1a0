#!/usr/bin/env python
"""Webhook delivery throughput and latency through the real pipeline.

  python bench/webhooks.py [--events 5000] [--batch 100] [--lag-events 200] [--lag-rate 20]
                           [--workers 2] [--pool prefork|threads] [--threads 4]

Starts a loopback HTTP receiver in its own process (asyncio, keep-alive, an
HMAC check of every request; its own maximum rate is measured first and
printed), a Celery worker with --workers pool processes (plus its embedded
beat, the dispatcher sweep) on a private queue, a scratch database
(<DATABASE_URL's name>_whbench, recreated each run) and one tenant with one
endpoint. Each pool process runs one dispatcher task at a time; a task sends
its batch on the process's send threads (ZENTRA_WEBHOOKS_BATCH_SIZE,
ZENTRA_WEBHOOKS_SEND_THREADS). Then prints:
  - drain: N events committed first, then the worker starts; deliveries/s from
    the first to the last delivery received (and the steady rate between the
    10th and 90th percentile of arrivals, and from spawning the workers);
  - live: N more events committed in transactions of --batch events
    (event_emit_many, as batch posting does) while the workers deliver (the
    emitter competes for the same CPUs); first commit to last delivery;
  - lag: single events committed one at a time at --lag-rate per second;
    time from COMMIT to the receiver seeing the request (p50, p90, p99, max).
It also prints the CPU time per delivery (workers, receiver, PostgreSQL
backends of the scratch database; and the emitter while live), which does not
depend on how busy the machine is, and counts duplicates and bad signatures.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _pg_args(url: str) -> list[str]:
    u = urlparse(url)
    return ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]


def _scratch_database() -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")
    u = urlparse(base)
    name = f"{u.path.lstrip('/') or 'zentra'}_whbench"
    subprocess.run(["dropdb", "--if-exists", "--force", *_pg_args(base), name], check=True)
    subprocess.run(["createdb", *_pg_args(base), name], check=True)
    return u._replace(path=f"/{name}").geturl()


def _receiver_main(pipe, stop) -> None:
    """The loopback receiver, in its own process so it neither shares the
    bench's GIL nor its CPU account: a minimal asyncio HTTP/1.1 server with
    keep-alive that checks each request's HMAC and answers 200 (400 for a bad
    signature). Arrivals go back to the bench in batches over `pipe`."""
    import asyncio
    import base64
    import hashlib
    import hmac

    state = {"key": None, "count": 0, "bad": 0}
    seen: dict[str, float] = {}
    fresh: list[tuple[str, float]] = []
    ok_reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    bad_reply = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"

    def check(headers: dict[bytes, bytes], body: bytes) -> bool:
        key = state["key"]
        if key is None:
            return True
        msg_id, ts = headers.get(b"webhook-id", b""), headers.get(b"webhook-timestamp", b"")
        digest = hmac.new(key, msg_id + b"." + ts + b"." + body, hashlib.sha256).digest()
        expected = b"v1," + base64.b64encode(digest)
        return expected in headers.get(b"webhook-signature", b"").split(b" ")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = time.time()
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
                ok = check(headers, body)
                msg_id = headers.get(b"webhook-id", b"").decode()
                state["count"] += 1
                state["bad"] += not ok
                if msg_id not in seen:
                    seen[msg_id] = now
                    fresh.append((msg_id, now))
                writer.write(ok_reply if ok else bad_reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
        pipe.send(("port", server.sockets[0].getsockname()[1]))
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            while pipe.poll():
                kind, value = pipe.recv()
                if kind == "secret":
                    from base64 import b64decode

                    state["key"] = b64decode(value.split("_", 1)[1])
                    seen.clear()
                    state["count"] = state["bad"] = 0
            if fresh:
                batch = fresh[:]
                fresh.clear()
                await loop.run_in_executor(None, pipe.send, ("arrivals", batch))
        pipe.send(("totals", (state["count"], state["bad"])))
        server.close()

    asyncio.run(main())


class Receiver:
    def __init__(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._pipe, child = ctx.Pipe()
        self._stop = ctx.Event()
        self.process = ctx.Process(target=_receiver_main, args=(child, self._stop), daemon=True)
        self.process.start()
        kind, self.port = self._pipe.recv()
        self.arrivals: dict[str, float] = {}
        self.totals: tuple[int, int] | None = None
        self.lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                kind, value = self._pipe.recv()
            except (EOFError, OSError):
                return
            if kind == "arrivals":
                with self.lock:
                    for msg_id, at in value:
                        self.arrivals.setdefault(msg_id, at)
            elif kind == "totals":
                self.totals = value
                return

    def verify_with(self, secret: str) -> None:
        """From now on check signatures with this secret (and forget the self-test)."""
        self._pipe.send(("secret", secret))
        time.sleep(0.1)
        with self.lock:
            self.arrivals.clear()

    def close(self) -> tuple[int, int]:
        self._stop.set()
        self._reader.join(10)
        self.process.join(10)
        return self.totals or (0, 0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bench"

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if ids <= self.arrivals.keys():
                    return True
            time.sleep(0.01)
        return False


def _load(port: int, n: int, connections: int, out) -> None:
    """A cheap client for the receiver's self-test: raw keep-alive sockets,
    one pre-built request, one request in flight per connection."""
    import socket

    request = (b"POST /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"webhook-id: selftest\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,x\r\n"
               b"Content-Length: 200\r\n\r\n" + b"x" * 200)
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    done = 0
    while done < n:
        for sock in socks:
            sock.sendall(request)
        for sock in socks:
            reply = b""
            while not reply.endswith(b"\r\n\r\n"):
                reply += sock.recv(4096)
        done += connections
    for sock in socks:
        sock.close()
    out.send(done)


def _receiver_max_rate(receiver: Receiver) -> float:
    """Requests/s the receiver answers when driven by 2 client processes with
    8 keep-alive connections each (clients and receiver share the 2 cores, so
    this is a lower bound)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    per = 4000
    start = time.time()
    pipes, procs = [], []
    for _ in range(2):
        a, b = ctx.Pipe()
        p = ctx.Process(target=_load, args=(receiver.port, per, 8, b), daemon=True)
        p.start()
        pipes.append(a)
        procs.append(p)
    total = sum(a.recv() for a in pipes)
    elapsed = time.time() - start
    for p in procs:
        p.join(10)
    return total / elapsed


def _start_workers(env: dict[str, str], args: argparse.Namespace, log: Path) -> list[subprocess.Popen]:
    """prefork: one worker with --workers pool processes; threads: --workers
    worker processes with --threads threads each. The first also runs beat."""
    base = [sys.executable, "-m", "celery", "-A", "zentra_site", "worker", "-l",
            os.environ.get("BENCH_WORKER_LOG", "WARNING"), "--without-gossip", "--without-mingle"]
    if args.prefetch:
        base += ["--prefetch-multiplier", str(args.prefetch)]
    beat = ["-B", "-s", str(log.with_suffix(".beat"))]
    if args.pool == "prefork":
        commands = [base + beat + ["-P", "prefork", "-c", str(args.workers)]]
    else:
        commands = [base + (beat if i == 0 else []) + ["-P", "threads", "-c", str(args.threads)]
                    for i in range(args.workers)]
    names, procs = [], []
    for i, command in enumerate(commands):
        name = f"whbench-{uuid.uuid4().hex[:6]}"
        names.append(name)
        procs.append(subprocess.Popen(
            command + ["-n", f"{name}@%h"], cwd=ROOT, env=env, stdout=open(log.with_suffix(f".{i}.log"), "w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        ))
    from zentra_site.celery import app

    deadline = time.time() + 60
    while time.time() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"a worker exited; see {log.parent}/{log.stem}.*.log")
        try:
            replies = app.control.inspect(timeout=0.5).ping() or {}
            if all(any(r.startswith(n) for r in replies) for n in names):
                return procs
        except Exception:  # noqa: BLE001 - broker still coming up
            pass
        time.sleep(0.3)
    for p in procs:
        p.kill()
    raise SystemExit("workers did not start")


def _cpu_seconds(db_name: str, groups: list[int], receiver_pid: int) -> dict[str, float]:
    """CPU time (user + system) used so far by this pipeline: the worker
    process groups (pool processes, their send threads, the consumer and
    beat), the receiver process, this process (the emitter) and the
    PostgreSQL backends serving the scratch database. Other tenants of the
    machine are excluded, so the figure does not depend on how busy it is."""
    total = {"workers": 0, "receiver": 0, "postgres": 0, "emitter": 0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        pgid, ticks = int(fields[2]), int(fields[11]) + int(fields[12])
        if pgid in groups:
            total["workers"] += ticks
        elif int(pid) == receiver_pid:
            total["receiver"] += ticks
        elif int(pid) == os.getpid():
            total["emitter"] += ticks
        elif cmdline.startswith("postgres:") and f" {db_name} " in cmdline:
            total["postgres"] += ticks
    return {k: v / os.sysconf("SC_CLK_TCK") for k, v in total.items()}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100, help="events per committed transaction (emit)")
    parser.add_argument("--lag-events", type=int, default=200)
    parser.add_argument("--lag-rate", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--pool", choices=["prefork", "threads"], default="prefork")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process with --pool threads")
    parser.add_argument("--prefetch", type=int, default=None, help="worker --prefetch-multiplier (default: settings)")
    args = parser.parse_args()

    queue = f"whbench-{uuid.uuid4().hex[:8]}"
    os.environ["DATABASE_URL"] = _scratch_database()
    os.environ["ZENTRA_CELERY_QUEUE"] = queue
    os.environ["ZENTRA_WEBHOOKS_ALLOW_LOOPBACK"] = "1"
    os.environ.setdefault("ZENTRA_DEBUG", "0")  # DEBUG keeps every query in memory
    os.environ.setdefault("ZENTRA_LOG_LEVEL", "WARNING")
    os.environ.setdefault("ZENTRA_LOG_JSON", "0")
    os.environ["DJANGO_SETTINGS_MODULE"] = "zentra_site.settings"
    receiver = Receiver()  # forked before Django is loaded
    receiver._pipe.send(("secret", "whsec_" + "A" * 44))  # the self-test pays for HMAC checks too
    max_rate = _receiver_max_rate(receiver)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from core.actors import Actor
    from tenants.services.tenants import tenant_create
    from webhooks.services.endpoints import endpoint_create
    from events.services import event_emit, event_emit_many

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    slug = f"whbench-{uuid.uuid4().hex[:6]}"
    tenant = tenant_create(actor=Actor.system("bench"), slug=slug, domain=f"{slug}.localhost").tenant
    actor = Actor.system("bench")
    connection.set_tenant(tenant)
    created = endpoint_create(url=receiver.url, event_types=["ledger.*"], actor=actor)
    receiver.verify_with(created.secret)
    connection.set_schema_to_public()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / f"{queue}.log"
    payload = {"entry_id": "ent_bench", "amount_minor": 125000, "currency": "EUR", "lines": 2}

    def vacuum() -> None:
        """What autovacuum does between phases in production (this machine
        may run PostgreSQL with autovacuum off): finished deliveries leave
        the pending index, statistics are fresh."""
        with connection.cursor() as cur:
            cur.execute("SHOW autovacuum")
            if cur.fetchone()[0] == "off":
                cur.execute(f"VACUUM ANALYZE {connection.ops.quote_name(tenant.schema_name)}.webhooks_delivery")

    def emit_batches(n: int) -> set[str]:
        """Committed transactions of --batch events each, as batch posting
        emits them (event_emit_many)."""
        ids: set[str] = set()
        for start in range(0, n, args.batch):
            with transaction.atomic():
                made = event_emit_many(
                    events=[("ledger.entry.created", payload)] * min(args.batch, n - start), actor=actor,
                )
            ids.update(e.public_id for e in made)
        return ids

    def wait_all(ids: set[str], what: str) -> list[float]:
        if not receiver.wait_for(ids, timeout=max(120, len(ids) / 20)):
            raise SystemExit(f"{what}: {len(ids - receiver.arrivals.keys())} of {len(ids)} did not arrive; see {log.parent}/{log.stem}.*.log")
        return sorted(receiver.arrivals[i] for i in ids)

    # --- drain: a committed backlog, then the workers start ------------------
    connection.set_tenant(tenant)
    backlog = emit_batches(args.events)
    connection.set_schema_to_public()
    spawned = time.time()
    workers = _start_workers(env, args, log)
    db_name = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
    groups = [w.pid for w in workers]
    ready = time.time()
    cpu_before = _cpu_seconds(db_name, groups, receiver.process.pid)
    try:
        arrivals = wait_all(backlog, "drain")
        cpu_after = _cpu_seconds(db_name, groups, receiver.process.pid)
        # CPU is sampled from "ready" on; deliveries already made while the
        # workers were being pinged are not counted against it.
        measured = max(1, sum(1 for t in arrivals if t >= ready))
        drain_cpu = {k: (cpu_after[k] - cpu_before[k]) * 1000 / measured for k in cpu_after if k != "emitter"}
        drain_cpu_ms = sum(drain_cpu.values())
        first, arrivals_last = arrivals[0], arrivals[-1]
        drain_first_last = (len(arrivals) - 1) / max(1e-9, arrivals[-1] - first)
        p10, p90 = _pct(arrivals, 10), _pct(arrivals, 90)
        drain_steady = 0.8 * len(arrivals) / (p90 - p10) if p90 > p10 else float("nan")
        time.sleep(1.0)  # let the last results be recorded before the next phase
        vacuum()

        # --- live: commits and deliveries at the same time ------------------
        connection.set_tenant(tenant)
        cpu_before = _cpu_seconds(db_name, groups, receiver.process.pid)
        t0 = time.time()
        live = emit_batches(args.events)
        committed = time.time() - t0
        arrivals = wait_all(live, "live")
        live_total = arrivals[-1] - t0
        cpu_after = _cpu_seconds(db_name, groups, receiver.process.pid)
        live_cpu = {k: (cpu_after[k] - cpu_before[k]) * 1000 / args.events for k in cpu_after}
        time.sleep(1.0)
        vacuum()

        # --- lag ---------------------------------------------------------------
        commits: dict[str, float] = {}
        interval = 1.0 / args.lag_rate
        next_at = time.time()
        for _ in range(args.lag_events):
            with transaction.atomic():
                event = event_emit(type="ledger.entry.created", payload=payload, actor=actor)
            commits[event.public_id] = time.time()
            next_at += interval
            time.sleep(max(0.0, next_at - time.time()))
        wait_all(set(commits), "lag")
        lags = [(receiver.arrivals[i] - c) * 1000 for i, c in commits.items()]
        connection.set_schema_to_public()
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, 9)
        received, bad = receiver.close()

    load = os.getloadavg()[0]
    pool = "prefork" if args.pool == "prefork" else f"threads x{args.threads}"
    print(f"webhooks bench: {args.workers} worker processes ({pool}) + beat, dispatcher batches of "
          f"{settings.WEBHOOKS_BATCH_SIZE} sent on {settings.WEBHOOKS_SEND_THREADS} threads per process, "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"  receiver (own process, asyncio, keep-alive, HMAC-checks every request): "
          f"self-test {max_rate:.0f} requests/s with 2 client processes")
    print(f"  drain: {args.events} committed deliveries, workers started after commit")
    print(f"    first -> last delivery: {drain_first_last:.0f} deliveries/s  (steady 10th-90th pct: {drain_steady:.0f}/s;"
          f" workers spawned -> last delivery {args.events / (arrivals_last - spawned):.0f}/s, including start-up)")
    parts = ", ".join(f"{k} {v:.2f}" for k, v in drain_cpu.items())
    print(f"    CPU per delivery: {drain_cpu_ms:.2f} ms ({parts})"
          f" -> ceiling on {os.cpu_count()} idle cores ~{os.cpu_count() * 1000 / drain_cpu_ms:.0f} deliveries/s")
    print(f"  live: {args.events} events committed in batches of {args.batch} (event_emit_many) while delivering"
          f" ({committed:.2f} s = {args.events / committed:.0f} events/s committed)")
    print(f"    first commit -> last delivery: {live_total:.2f} s = {args.events / live_total:.0f} deliveries/s")
    parts = ", ".join(f"{k} {v:.2f}" for k, v in live_cpu.items())
    print(f"    CPU per event: {sum(live_cpu.values()):.2f} ms ({parts})")
    print(f"  lag, commit -> first attempt at receiver ({args.lag_events} single-event commits at {args.lag_rate:g}/s):")
    print(f"    p50 {statistics.median(lags):.1f} ms  p90 {_pct(lags, 90):.1f} ms  p99 {_pct(lags, 99):.1f} ms"
          f"  max {max(lags):.1f} ms")
    expected = 2 * args.events + args.lag_events
    print(f"  requests received {received} for {expected} events (duplicates {received - expected}),"
          f" bad signatures {bad}")


if __name__ == "__main__":
    main()
