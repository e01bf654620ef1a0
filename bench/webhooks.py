#!/usr/bin/env python
"""Webhook delivery throughput and latency through the real pipeline.

  python bench/webhooks.py [--events 3000] [--lag-events 200] [--lag-rate 20] [--workers 2]
                           [--pool prefork|threads] [--threads 4]

Starts a loopback HTTP receiver, a Celery worker with --workers pool processes
(plus its embedded beat, the dispatcher sweep) on a private queue, a scratch
database (<DATABASE_URL's name>_whbench, recreated each run) and one tenant
with one endpoint. Then prints:
  - drain: N events committed first, then the worker starts; deliveries/s from
    worker ready to the last delivery received (and the steady rate between
    the 10th and 90th percentile of arrivals);
  - live: N more events committed in batches of 100 while the workers deliver
    (the emitter competes for the same CPUs); first commit to last delivery;
  - lag: single events committed one at a time at --lag-rate per second;
    time from COMMIT to the receiver seeing the request (p50, p90, p99, max).
It also prints the CPU time per delivery (workers, receiver, PostgreSQL
backends of the scratch database), which does not depend on how busy the
machine is. Every received request's signature is checked (HMAC only, to
keep the receiver cheap) and duplicates are counted.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.secret: str | None = None
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                now = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                msg_id = self.headers.get("webhook-id", "")
                ok = rx._verify(msg_id, self.headers.get("webhook-timestamp", ""), body,
                                self.headers.get("webhook-signature", ""))
                with rx.lock:
                    rx.count += 1
                    rx.bad_signatures += not ok
                    rx.arrivals.setdefault(msg_id, now)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _verify(self, msg_id: str, ts: str, body: bytes, header: str) -> bool:
        from webhooks.signing import signature

        expected = signature(secret=self.secret, msg_id=msg_id, timestamp=int(ts or 0), body=body)
        return expected in header.split(" ")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bench"

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if ids <= self.arrivals.keys():
                    return True
            time.sleep(0.01)
        return False


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


def _cpu_seconds(db_name: str, groups: list[int]) -> dict[str, float]:
    """CPU time (user + system) used so far by this pipeline: the worker
    process groups, this process (emitter + receiver) and the PostgreSQL
    backends serving the scratch database. Other tenants of the machine are
    excluded, so the figure does not depend on how busy the machine is."""
    total = {"workers": 0, "receiver": 0, "postgres": 0}
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
        elif int(pid) == os.getpid():
            total["receiver"] += ticks
        elif cmdline.startswith("postgres:") and f" {db_name} " in cmdline:
            total["postgres"] += ticks
    return {k: v / os.sysconf("SC_CLK_TCK") for k, v in total.items()}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
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
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from audit.actors import Actor
    from tenants.services.tenants import tenant_create
    from webhooks.services.endpoints import endpoint_create
    from webhooks.services.events import event_emit

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    slug = f"whbench-{uuid.uuid4().hex[:6]}"
    tenant = tenant_create(slug=slug, domain=f"{slug}.localhost").tenant
    receiver = Receiver()
    actor = Actor.system("bench")
    connection.set_tenant(tenant)
    created = endpoint_create(url=receiver.url, event_types=["ledger.*"], actor=actor)
    receiver.secret = created.secret
    connection.set_schema_to_public()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / f"{queue}.log"
    payload = {"entry_id": "ent_bench", "amount_minor": 125000, "currency": "EUR", "lines": 2}

    def emit_batches(n: int) -> set[str]:
        ids: set[str] = set()
        for start in range(0, n, args.batch):
            with transaction.atomic():
                for _ in range(min(args.batch, n - start)):
                    ids.add(event_emit(type="ledger.entry.created", payload=payload, actor=actor).public_id)
        return ids

    def wait_all(ids: set[str], what: str) -> list[float]:
        if not receiver.wait_for(ids, timeout=max(120, len(ids) / 20)):
            raise SystemExit(f"{what}: {len(ids - receiver.arrivals.keys())} of {len(ids)} did not arrive; see {log.parent}/{log.stem}.*.log")
        return sorted(receiver.arrivals[i] for i in ids)

    # --- drain: a committed backlog, then the workers start ------------------
    connection.set_tenant(tenant)
    backlog = emit_batches(args.events)
    connection.set_schema_to_public()
    workers = _start_workers(env, args, log)
    db_name = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
    groups = [w.pid for w in workers]
    ready = time.time()
    cpu_before = _cpu_seconds(db_name, groups)
    try:
        arrivals = wait_all(backlog, "drain")
        drain_total = arrivals[-1] - ready
        cpu_after = _cpu_seconds(db_name, groups)
        drain_cpu = {k: (cpu_after[k] - cpu_before[k]) * 1000 / args.events for k in cpu_after}
        drain_cpu_ms = sum(drain_cpu.values())
        p10, p90 = _pct(arrivals, 10), _pct(arrivals, 90)
        drain_steady = 0.8 * len(arrivals) / (p90 - p10) if p90 > p10 else float("nan")

        # --- live: commits and deliveries at the same time ------------------
        connection.set_tenant(tenant)
        t0 = time.time()
        live = emit_batches(args.events)
        committed = time.time() - t0
        arrivals = wait_all(live, "live")
        live_total = arrivals[-1] - t0

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

    received = receiver.count
    load = os.getloadavg()[0]
    pool = "prefork" if args.pool == "prefork" else f"threads x{args.threads}"
    print(f"webhooks bench: {args.workers} worker processes ({pool}) + beat, loopback receiver, "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"  drain: {args.events} committed deliveries, workers started after commit")
    print(f"    worker ready -> last delivery: {drain_total:.2f} s = {args.events / drain_total:.0f} deliveries/s"
          f"  (steady 10th-90th pct: {drain_steady:.0f}/s)")
    parts = ", ".join(f"{k} {v:.1f}" for k, v in drain_cpu.items())
    print(f"    CPU per delivery: {drain_cpu_ms:.1f} ms ({parts})"
          f" -> ceiling on {os.cpu_count()} idle cores ~{os.cpu_count() * 1000 / drain_cpu_ms:.0f} deliveries/s")
    print(f"  live: {args.events} events committed in batches of {args.batch} while delivering ({committed:.2f} s)")
    print(f"    first commit -> last delivery: {live_total:.2f} s = {args.events / live_total:.0f} deliveries/s")
    print(f"  lag, commit -> first attempt at receiver ({args.lag_events} single-event commits at {args.lag_rate:g}/s):")
    print(f"    p50 {statistics.median(lags):.1f} ms  p90 {_pct(lags, 90):.1f} ms  p99 {_pct(lags, 99):.1f} ms"
          f"  max {max(lags):.1f} ms")
    expected = 2 * args.events + args.lag_events
    print(f"  requests received {received} for {expected} events (duplicates {received - expected}),"
          f" bad signatures {receiver.bad_signatures}")


if __name__ == "__main__":
    main()
