#!/usr/bin/env python
"""Fault storm: concurrent money operations over HTTP while the stack is broken on purpose.

  python bench/fault_storm.py [--seconds 120] [--clients 8] [--faults 16] [--seed N] [--small]
                              [--timeout-rate 0.05] [--webhook-wait 120] [--keep-logs]

Everything runs on a private stack this script starts and tears down (the
machine's shared PostgreSQL and Redis are never touched): a PostgreSQL cluster
initdb'd into a temp dir on a free port, its own redis-server on a free port,
gunicorn (2 workers, as scripts/run.sh), a Celery worker (-c 2) and Celery
beat, and a loopback webhook receiver that counts deliveries by webhook-id.

--clients threads post entries (POST /v1/ledger-entries) and run hold flows
(create, then capture or release; now and then capture and release race).
Every operation has its own idempotency key. A 2xx is *acked*, a 4xx other
than in-progress/rate-limited is *failed* (a definite answer); a timeout, a
5xx or a connection error is *indeterminate*: the client retries it with the
same key and body until the server gives a definite answer. A small share of
requests use a tiny client timeout, so the server usually commits while the
client has given up (the retry must replay, not post again).

Meanwhile the fault thread injects, spread over --seconds, round-robin:
pg_terminate_backend on 1-3 random app backends, a PostgreSQL restart
(alternating fast and immediate shutdown), a Redis restart (every queued task
lost) and SIGKILL of the Celery worker's process group (restarted 1 s later).

At the end (faults stopped) it checks its model against the server:
  - every operation acked (at once or after retries) has exactly one entry /
    hold under its key; every failed one has none; no entry exists that no
    operation asked for (postings lost / duplicated);
  - every account's posted and pending balances equal the model's;
  - every committed event with a delivery to the receiver's endpoint reached
    the receiver, waiting up to --webhook-wait s for the dispatcher (webhooks
    lost), and every acked operation's event was committed;
  - `manage.py ledger_check` passes.
Exit status 0 only if nothing was lost or duplicated and every check passed.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import ROOT

import psycopg
import requests

PY = sys.executable
DB_NAME = "zentra_storm"
ACCOUNTS = [f"storm_{i}" for i in range(6)]
GUARDED = "storm_guarded"  # no_negative_available: some postings out of it are refused (definite 4xx)
CURRENCY = "EUR"
WEBHOOK_HARD_CAP = 900  # s: however slowly deliveries still trickle in, the wait ends here


def log(msg: str) -> None:
    print(f"[storm {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    preferred = [p for p in found if "/15/" in p]
    if not (preferred or found):
        raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return Path((preferred or found)[-1]).parent


# --- the private stack ------------------------------------------------------

class Stack:
    """A private PostgreSQL, Redis, gunicorn, Celery worker and beat. Every
    process leads its own process group so a stop takes its children too."""

    def __init__(self, tmp: Path, *, outage: float) -> None:
        self.tmp = tmp
        self.outage = outage  # seconds a restarted service stays down
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.pgdata = tmp / "pgdata"
        self.pg_port, self.redis_port, self.web_port = free_port(), free_port(), free_port()
        self.bin = pg_bin()
        self.as_postgres = os.geteuid() == 0  # initdb and postgres refuse to run as root
        self.procs: dict[str, subprocess.Popen] = {}
        # Once stop_all has begun nothing may start again (the fault thread
        # could otherwise restart PostgreSQL after the teardown).
        self.closed = False
        self.spawn_lock = threading.Lock()
        self.pg_shutdowns = 0
        self.database_url = f"postgres://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base = f"http://127.0.0.1:{self.web_port}"
        # Nothing of the caller's Zentra/Django configuration leaks in (a test
        # run's eager Celery, queue names...): the stack is configured here only.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ZENTRA_", "DJANGO_"))}
        self.env = dict(
            inherited, DATABASE_URL=self.database_url, REDIS_URL=self.redis_url,
            ZENTRA_TEST_REDIS_URL=self.redis_url, DJANGO_SETTINGS_MODULE="zentra_site.settings",
            PYTHONPATH=str(ROOT), ZENTRA_DEBUG="0", ZENTRA_LOG_LEVEL="WARNING", ZENTRA_LOG_JSON="0",
            ZENTRA_ALLOWED_HOSTS="127.0.0.1,localhost", ZENTRA_WEBHOOKS_ALLOW_LOOPBACK="1",
            ZENTRA_RATE_LIMIT_PER_MINUTE="1000000",
            # A delivery whose worker was SIGKILLed is re-sent after its lease;
            # a short lease keeps that inside the storm's bounded wait.
            ZENTRA_WEBHOOKS_TIMEOUT_SECONDS="5", ZENTRA_WEBHOOKS_LEASE_SECONDS="20",
        )

    def _spawn(self, name: str, cmd: list[str], *, postgres_user: bool = False, env=None) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "a")
        kwargs = {}
        if postgres_user and self.as_postgres:
            kwargs = {"user": "postgres", "group": "postgres", "extra_groups": []}
        with self.spawn_lock:
            if self.closed:
                raise RuntimeError(f"stack stopped; not starting {name}")
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
            self.procs[name] = proc
        return proc

    # PostgreSQL ---------------------------------------------------------------
    def pg_init(self) -> None:
        self.pgdata.mkdir()
        if self.as_postgres:
            shutil.chown(self.tmp, "postgres", "postgres")
            shutil.chown(self.pgdata, "postgres", "postgres")
        kwargs = {"user": "postgres", "group": "postgres", "extra_groups": []} if self.as_postgres else {}
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=self.tmp, **kwargs)
        self.pg_start()
        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB_NAME}")

    def admin_url(self, db: str = DB_NAME) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{db}"

    def pg_start(self) -> None:
        self._spawn("postgres", [
            str(self.bin / "postgres"), "-D", str(self.pgdata), "-p", str(self.pg_port), "-k", str(self.tmp),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=on",
            "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB",
        ], postgres_user=True)
        self._wait(lambda: psycopg.connect(self.admin_url("postgres"), connect_timeout=2).close(), "PostgreSQL", 60)

    def pg_stop(self, *, immediate: bool) -> None:
        proc = self.procs.get("postgres")
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def pg_restart(self) -> str:
        self.pg_shutdowns += 1
        immediate = self.pg_shutdowns % 2 == 0
        self.pg_stop(immediate=immediate)
        time.sleep(self.outage)
        self.pg_start()
        return "immediate" if immediate else "fast"

    def pg_terminate(self, rnd: random.Random) -> int:
        with psycopg.connect(self.admin_url(), autocommit=True, connect_timeout=5) as conn:
            pids = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'", [DB_NAME]).fetchall()]
            victims = rnd.sample(pids, min(len(pids), rnd.randint(1, 3)))
            for pid in victims:
                conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        return len(victims)

    # Redis ----------------------------------------------------------------------
    def redis_start(self) -> None:
        self._spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--daemonize", "no"])

        def ping():
            import redis
            redis.Redis.from_url(self.redis_url, socket_timeout=1).ping()
        self._wait(ping, "Redis", 30)

    def redis_restart(self) -> None:
        # SIGKILL: nothing saved, every queued task and result gone.
        self.kill("redis", signal.SIGKILL)
        time.sleep(self.outage)
        self.redis_start()

    # the app ------------------------------------------------------------------
    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if check and res.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{res.stdout}{res.stderr}")
        return res

    def web_start(self) -> None:
        # As scripts/run.sh starts it.
        self._spawn("web", [PY, "-m", "gunicorn", "zentra_site.wsgi:application", "--bind",
                            f"127.0.0.1:{self.web_port}", "--workers", "2", "--graceful-timeout", "10",
                            "--no-control-socket", "--timeout", "60"])
        self._wait(lambda: requests.get(f"{self.base}/healthz", timeout=5).raise_for_status(), "gunicorn", 90)

    def worker_start(self) -> None:
        self._spawn("worker", [PY, "-m", "celery", "-A", "zentra_site", "worker", "-l", "WARNING", "-c", "2",
                               "--without-gossip", "--without-mingle", "-n", f"storm-{self.web_port}@%h"])

    def beat_start(self) -> None:
        self._spawn("beat", [PY, "-m", "celery", "-A", "zentra_site", "beat", "-l", "WARNING",
                             "-s", str(self.tmp / "celerybeat-schedule")])

    def worker_kill(self) -> None:
        self.kill("worker", signal.SIGKILL)
        time.sleep(self.outage)
        self.worker_start()

    def kill(self, name: str, sig: int, *, grace: float = 30) -> None:
        proc = self.procs.get(name)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        with self.spawn_lock:
            self.closed = True
        for name in ("web", "worker", "beat"):  # their state is thrown away: no long graceful stop
            if name in self.procs:
                self.kill(name, signal.SIGTERM, grace=3)
        self.pg_stop(immediate=False)
        if "redis" in self.procs:
            self.kill("redis", signal.SIGKILL)
        for proc in list(self.procs.values()):  # anything left in a group we started
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    @staticmethod
    def _wait(probe, what: str, seconds: float) -> None:
        deadline = time.time() + seconds
        while True:
            try:
                probe()
                return
            except Exception as exc:  # noqa: BLE001 - still coming up
                if time.time() > deadline:
                    raise SystemExit(f"{what} did not come up in {seconds:g} s: {exc}")
                time.sleep(0.2)


# --- the webhook receiver -------------------------------------------------------

class Receiver:
    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with rx.lock:
                    rx.counts[self.headers.get("webhook-id", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/storm"

    def seen(self) -> set[str]:
        with self.lock:
            return set(self.counts)


# --- the client side and its model ---------------------------------------------

@dataclass
class Op:
    kind: str  # posting | hold_create | hold_capture | hold_release
    key: str
    path: str
    body: dict
    first: str = ""  # acked | failed | indeterminate: the first attempt's answer
    final: str = ""  # acked | failed | unresolved
    status: int = 0
    response: dict = field(default_factory=dict)
    attempts: int = 0


class Client:
    """Sends one operation until it has a definite answer, with the same key
    and body every time, and records it in the shared model."""

    RETRY_CODES = {"idempotency_key_in_use", "rate_limited"}

    def __init__(self, storm: "Storm", seed: int) -> None:
        self.storm = storm
        self.rnd = random.Random(seed)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {storm.api_key}"

    def send(self, op: Op, *, give_up_at: float) -> Op:
        self.storm.record(op)
        delay = 0.1
        while True:
            op.attempts += 1
            short = self.rnd.random() < self.storm.args.timeout_rate and not self.storm.quiet.is_set()
            outcome = "indeterminate"
            try:
                resp = self.session.post(self.storm.stack.base + op.path, json=op.body, timeout=(
                    (2, self.rnd.uniform(0.01, 0.15)) if short else (5, 30)),
                    headers={"Idempotency-Key": op.key})
                op.status = resp.status_code
                self.storm.count_answer(f"{resp.status_code // 100}xx")
                try:
                    data = resp.json()
                except ValueError:
                    data = {}
                if 200 <= resp.status_code < 300:
                    outcome, op.response = "acked", data
                elif 400 <= resp.status_code < 500 and data.get("code") not in self.RETRY_CODES:
                    outcome, op.response = "failed", data
                    if data.get("code") == "idempotency_key_reused":
                        self.storm.note_error(f"{op.key}: key reused with the same body: {data}")
            except requests.Timeout:
                if short:
                    self.storm.count_fault("client_timeout")
                self.storm.count_answer("timeout")
                op.status = 0
            except requests.ConnectionError:
                self.storm.count_answer("connection error")
                op.status = 0
            if not op.first:
                op.first = outcome
            if outcome != "indeterminate":
                op.final = outcome
                return op
            if time.time() > give_up_at:
                op.final = "unresolved"
                return op
            time.sleep(delay * self.rnd.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)

    def run(self, stop_at: float, give_up_at: float) -> None:
        while time.time() < stop_at:
            if self.rnd.random() < 0.6:
                self.posting(give_up_at)
            else:
                self.hold_flow(give_up_at)

    def _key(self, kind: str) -> str:
        return f"storm-{kind}-{uuid.UUID(int=self.rnd.getrandbits(128)).hex}"

    def posting(self, give_up_at: float) -> None:
        if self.rnd.random() < 0.15:
            debit, credit = self.rnd.choice(ACCOUNTS), GUARDED  # may overdraw the guarded account: refused
            amount = self.rnd.randint(1, 4000)
        else:
            debit, credit = self.rnd.sample(ACCOUNTS + [GUARDED], 2)
            amount = self.rnd.randint(1, 1000)
        key = self._key("post")
        self.send(Op("posting", key, "/v1/ledger-entries", {
            "debit": debit, "credit": credit, "amount_minor": amount, "currency": CURRENCY,
            "external_reference": key}), give_up_at=give_up_at)

    def hold_flow(self, give_up_at: float) -> None:
        account, dest = self.rnd.sample(ACCOUNTS + [GUARDED], 2)
        amount = self.rnd.randint(1, 2000)
        create = self.send(Op("hold_create", self._key("hold"), "/v1/holds", {
            "account": account, "destination": dest, "amount_minor": amount, "currency": CURRENCY}),
            give_up_at=give_up_at)
        if create.final != "acked":
            return
        hold = create.response["hold_id"]
        capture = Op("hold_capture", self._key("capture"), f"/v1/holds/{hold}/capture",
                     {"amount_minor": self.rnd.randint(1, amount), "release_remainder": True}
                     if self.rnd.random() < 0.5 else {})
        release = Op("hold_release", self._key("release"), f"/v1/holds/{hold}/release", {"reason": "storm"})
        roll = self.rnd.random()
        if roll < 0.15:  # capture and release race: exactly one may act
            other = Client(self.storm, self.rnd.getrandbits(32))
            t = threading.Thread(target=other.send, args=(release,), kwargs={"give_up_at": give_up_at}, daemon=True)
            t.start()
            self.send(capture, give_up_at=give_up_at)
            t.join()
        else:
            self.send(capture if roll < 0.6 else release, give_up_at=give_up_at)


class Storm:
    FAULT_KINDS = ["pg_terminate_backend", "redis_restart", "celery_worker_sigkill", "pg_restart"]

    def __init__(self, args: argparse.Namespace, stack: Stack, receiver: Receiver) -> None:
        self.args, self.stack, self.receiver = args, stack, receiver
        self.rnd = random.Random(args.seed)
        self.api_key = ""
        self.schema = ""
        self.ops: list[Op] = []
        self.lock = threading.Lock()
        self.faults: collections.Counter[str] = collections.Counter()
        self.errors: list[str] = []
        self.answers: collections.Counter[str] = collections.Counter()  # per attempt: 2xx, 5xx, timeout...
        self.last_fault_at = time.time()
        self.quiet = threading.Event()  # set once faults stop: no more short timeouts

    def record(self, op: Op) -> None:
        with self.lock:
            self.ops.append(op)

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.faults[kind] += 1

    def count_answer(self, kind: str) -> None:
        with self.lock:
            self.answers[kind] += 1

    def note_error(self, msg: str) -> None:
        with self.lock:
            self.errors.append(msg)

    # set-up ---------------------------------------------------------------------
    def setup(self) -> None:
        s = self.stack
        log("migrating the private database, creating the tenant")
        # One process for the three commands: Django starts once, not three times.
        script = (
            "import django, io, json; django.setup()\n"
            "from django.core.management import call_command\n"
            "call_command('migrate_schemas', shared=True, interactive=False, verbosity=0)\n"
            "call_command('tenant_template', stdout=io.StringIO())\n"
            "out = io.StringIO()\n"
            "call_command('tenant_create', 'storm', domain='storm.localhost', api_key=True, json=True, stdout=out)\n"
            "print('TENANT ' + out.getvalue().strip())\n"
        )
        res = subprocess.run([PY, "-c", script], cwd=ROOT, env=s.env, capture_output=True, text=True)
        line = next((ln for ln in res.stdout.splitlines() if ln.startswith("TENANT ")), None)
        if res.returncode or line is None:
            raise SystemExit(f"set-up failed:\n{res.stdout}{res.stderr}")
        out = json.loads(line[len("TENANT "):])
        self.api_key, self.schema = out["api_key"], out["schema"]
        s.worker_start()  # boots while gunicorn does
        s.beat_start()
        s.web_start()
        sess = requests.Session()
        sess.headers["Authorization"] = f"Bearer {self.api_key}"

        def post(path, body):
            r = sess.post(s.base + path, json=body, timeout=30)
            if r.status_code >= 300:
                raise SystemExit(f"set-up {path}: {r.status_code} {r.text}")
            return r.json()

        post("/v1/policies", {"name": "storm_no_negative", "kind": "no_negative_available"})
        for code in ACCOUNTS + [GUARDED]:
            post("/v1/accounts", {"code": code, "name": code, "currency": CURRENCY, "normal_side": "debit",
                                  "kind": "asset", "policies": ["storm_no_negative"] if code == GUARDED else []})
        post("/v1/webhook-endpoints", {"url": self.receiver.url, "event_types": ["*"]})

    # faults -----------------------------------------------------------------------
    def inject(self, kind: str) -> None:
        s = self.stack
        t0 = time.time()
        if kind == "pg_terminate_backend":
            detail = f"{s.pg_terminate(self.rnd)} backend(s)"
        elif kind == "pg_restart":
            detail = f"{s.pg_restart()} shutdown"
        elif kind == "redis_restart":
            s.redis_restart()
            detail = "SIGKILL, queue lost"
        else:
            s.worker_kill()
            detail = "process group, restarted"
        self.count_fault(kind)
        log(f"fault {kind}: {detail} ({time.time() - t0:.1f} s)")

    def fault_loop(self, start: float, stop_at: float) -> None:
        n = self.args.faults
        plan = [self.FAULT_KINDS[i % len(self.FAULT_KINDS)] for i in range(n)]
        span = stop_at - start
        for i, kind in enumerate(plan):
            at = start + span * (i + 1) / (n + 1)
            while time.time() < at:
                time.sleep(0.05)
            try:
                self.inject(kind)
                self.last_fault_at = time.time()
            except Exception as exc:  # noqa: BLE001 - report, keep storming
                self.note_error(f"fault {kind} failed: {exc!r}")

    # the run ------------------------------------------------------------------------
    def run(self) -> None:
        start = time.time()
        stop_at = start + self.args.seconds
        give_up_at = stop_at + self.args.resolve_wait
        # Daemons: on Ctrl-C/SIGTERM the main thread tears the stack down and
        # exits without waiting for them.
        clients = [threading.Thread(target=Client(self, self.args.seed * 1000 + i).run, args=(stop_at, give_up_at),
                                    daemon=True) for i in range(self.args.clients)]
        faults = threading.Thread(target=self.fault_loop, args=(start, stop_at), daemon=True)
        log(f"storm: {self.args.clients} clients for {self.args.seconds} s, {self.args.faults} faults")
        for t in clients + [faults]:
            t.start()
        faults.join()
        self.quiet.set()
        for t in clients:
            t.join()
        log(f"clients done {time.time() - stop_at:.1f} s after the storm window; checking")

    def _note_undelivered(self, missing: set[str], endpoint: int) -> None:
        """Where the deliveries still missing at the receiver are, for the log."""
        try:
            with psycopg.connect(self.stack.admin_url(), autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'SET search_path TO "{self.schema}"')
                rows = conn.execute(
                    "SELECT d.status, d.attempt_count, d.leased_until > now() AS leased, "
                    "round(extract(epoch FROM d.next_attempt_at - now())) AS due_in, count(*) "
                    "FROM webhooks_delivery d JOIN webhooks_event e ON e.id = d.event_id "
                    "WHERE d.endpoint_id = %s AND e.public_id = ANY(%s) GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC LIMIT 8",
                    [endpoint, list(missing)]).fetchall()
        except psycopg.Error as exc:
            rows = [f"({exc})"]
        log(f"  {len(missing)} deliveries not at the receiver yet; (status, attempts, leased, due in s, n): {rows}")

    # checks -------------------------------------------------------------------------
    def check(self) -> dict:
        ops = self.ops
        res: dict = {"errors": list(self.errors)}
        with psycopg.connect(self.stack.admin_url(), autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            entries = collections.Counter(dict(conn.execute(
                "SELECT idempotency_key, count(*) FROM ledger_ledgerentry GROUP BY 1").fetchall()))
            holds = collections.Counter(dict(conn.execute(
                "SELECT idempotency_key, count(*) FROM ledger_hold GROUP BY 1").fetchall()))
            balances = {code: (posted, pending) for code, posted, pending in conn.execute(
                "SELECT code, posted_balance, pending_balance FROM ledger_account").fetchall()}
            endpoint = conn.execute("SELECT id FROM webhooks_webhookendpoint WHERE url = %s",
                                    [self.receiver.url]).fetchone()[0]
            committed_events = {r[0] for r in conn.execute("SELECT public_id FROM webhooks_event").fetchall()}
            expected = {r[0] for r in conn.execute(
                "SELECT e.public_id FROM webhooks_event e JOIN webhooks_delivery d ON d.event_id = e.id "
                "WHERE d.endpoint_id = %s", [endpoint]).fetchall()}

        lost = duplicated = 0
        by_key = {}
        model: dict[str, list[int]] = {code: [0, 0] for code in ACCOUNTS + [GUARDED]}
        acked_events: set[str] = set()
        for op in ops:
            by_key[op.key] = op
            table = holds if op.kind == "hold_create" else entries
            # hold_release writes no entry; everything else posts one on success.
            want = 0 if op.final != "acked" or op.kind == "hold_release" else 1
            have = table.get(op.key, 0)
            if op.final == "unresolved":
                if have > 1:
                    duplicated += have - 1
                continue
            if have < want:
                lost += want - have
                res["errors"].append(f"lost: {op.kind} {op.key} acked, {have} rows")
            elif have > want:
                duplicated += have - want
                res["errors"].append(f"duplicated: {op.kind} {op.key} ({op.final}) has {have} rows")
            if op.final != "acked":
                continue
            body = op.response
            if body.get("event_id"):
                acked_events.add(body["event_id"])
            entry = body.get("entry") if op.kind == "hold_capture" else body if op.kind == "posting" else None
            for line in (entry or {}).get("lines", []):
                model[line["account"]][0] += line["amount_minor"] if line["side"] == "debit" else -line["amount_minor"]
            if op.kind == "hold_create":
                model[body["account"]][1] += body["amount_minor"]
            elif op.kind == "hold_capture":
                hold = body["hold"]
                model[hold["account"]][1] -= body["captured_minor"] + body["released_minor"]
            elif op.kind == "hold_release":
                model[body["account"]][1] -= body["released_minor"]
        asked = set(by_key)
        extra = [k for k in list(entries) + list(holds) if k.startswith("storm-") and k not in asked]
        if extra:
            duplicated += len(extra)
            res["errors"].append(f"{len(extra)} rows under keys no operation used: {extra[:5]}")
        mismatched = [f"{code}: server posted/pending {balances.get(code)} vs model {tuple(m)}"
                      for code, m in model.items() if balances.get(code) != tuple(m)]
        res["errors"] += mismatched
        missing_events = acked_events - committed_events
        if missing_events:
            res["errors"].append(f"{len(missing_events)} acked operations' events not committed")

        # Slow is not lost: wait while deliveries keep arriving; only a stall of
        # --webhook-wait s (or the hard cap) ends the wait with some missing.
        log(f"waiting for {len(expected)} deliveries (until none arrives for {self.args.webhook_wait} s)")
        hard_stop = time.time() + WEBHOOK_HARD_CAP
        missing = len(expected - self.receiver.seen())
        progress_at = next_note = time.time()
        while missing and time.time() < min(progress_at + self.args.webhook_wait, hard_stop):
            time.sleep(0.5)
            now_missing = len(expected - self.receiver.seen())
            if now_missing < missing:
                missing, progress_at = now_missing, time.time()
            if missing and time.time() > next_note + 10:
                next_note = time.time()
                self._note_undelivered(expected - self.receiver.seen(), endpoint)
        seen = self.receiver.seen()
        settled = time.time() - self.last_fault_at
        webhooks_lost = len(expected - seen) + len(missing_events)
        with self.receiver.lock:
            redelivered = sum(c - 1 for i, c in self.receiver.counts.items() if i in expected)
        if expected - seen:
            res["errors"].append(f"webhooks not delivered: {sorted(expected - seen)[:5]}")

        if expected - seen:
            self._note_undelivered(expected - seen, endpoint)
        check = self.stack.manage("ledger_check", check=False)
        res.update(lost=lost, duplicated=duplicated, webhooks_lost=webhooks_lost, mismatched=len(mismatched),
                   events=len(expected), settled=settled, redelivered=redelivered, ledger_check_rc=check.returncode,
                   ledger_check=(check.stdout + check.stderr).strip())
        return res


def report(storm: Storm, res: dict, elapsed: float) -> int:
    ops = storm.ops
    first = collections.Counter(op.first for op in ops)
    final = collections.Counter(op.final for op in ops)
    kinds = collections.Counter(op.kind for op in ops)
    indeterminate = [op for op in ops if op.first == "indeterminate"]
    resolved = collections.Counter(op.final for op in indeterminate)
    unresolved = final.get("unresolved", 0)
    a = storm.args
    print(f"\nfault storm: {a.clients} clients, {a.seconds} s, seed {a.seed}, {elapsed:.0f} s wall")
    print(f"  operations {len(ops)}: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(f"    acked {first.get('acked', 0)}  failed (definite 4xx) {first.get('failed', 0)}"
          f"  indeterminate {len(indeterminate)}"
          f" -> resolved acked {resolved.get('acked', 0)}, failed {resolved.get('failed', 0)},"
          f" unresolved {resolved.get('unresolved', 0)}")
    print(f"    attempts {sum(op.attempts for op in ops)} (retries with the same key:"
          f" {sum(op.attempts - 1 for op in ops)}); answers: "
          + ", ".join(f"{k} {v}" for k, v in sorted(storm.answers.items())))
    print("  faults: " + ", ".join(f"{k} {storm.faults.get(k, 0)}" for k in Storm.FAULT_KINDS + ["client_timeout"]))
    print(f"  webhooks: {res['events']} events for the receiver, all in {res['settled']:.1f} s after the last fault,"
          f" redelivered {res['redelivered']} (at-least-once)")
    print(f"  ledger_check: {'ok' if res['ledger_check_rc'] == 0 else 'FAILED'}")
    print(f"  postings lost {res['lost']}  postings duplicated {res['duplicated']}  webhooks lost {res['webhooks_lost']}"
          f"  balance mismatches {res['mismatched']}  unresolved {unresolved}")
    failed = (res["lost"] or res["duplicated"] or res["webhooks_lost"] or res["mismatched"] or unresolved
              or res["ledger_check_rc"] or res["errors"])
    if res["ledger_check_rc"]:
        print(res["ledger_check"])
    for err in res["errors"][:20]:
        print(f"  ! {err}")
    missing = [k for k in Storm.FAULT_KINDS if not storm.faults.get(k)]
    if missing:
        print(f"  ! fault kinds never injected: {missing}")
    print("RESULT: " + ("FAIL" if failed else "ok"))
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=120, help="length of the storm window")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--faults", type=int, default=16, help="faults injected, round-robin over the kinds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout-rate", type=float, default=0.05, help="share of requests with a tiny client timeout")
    parser.add_argument("--resolve-wait", type=int, default=60, help="s after the window to settle indeterminate ops")
    parser.add_argument("--webhook-wait", type=int, default=120,
                        help="give up on the missing deliveries after this many s without a new one arriving")
    parser.add_argument("--outage", type=float, default=2.0, help="s a restarted service stays down")
    parser.add_argument("--small", action="store_true", help="CI size: 24 s, 4 clients, each fault kind twice, 1.5 s outages")
    parser.add_argument("--keep-logs", action="store_true", help="keep the stack's logs even on success")
    args = parser.parse_args()
    if args.small:
        args.seconds, args.clients, args.faults, args.outage, args.webhook_wait = 24, 4, 8, 1.5, 45
    if args.seed is None:
        args.seed = random.randrange(1 << 30)

    tmp = Path(tempfile.mkdtemp(prefix="fault_storm_"))
    stack = Stack(tmp, outage=args.outage)
    storm = None
    failed = True

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.time()
    try:
        log(f"private stack in {tmp}: postgres :{stack.pg_port}, redis :{stack.redis_port}, web :{stack.web_port}")
        stack.pg_init()
        stack.redis_start()
        receiver = Receiver()
        storm = Storm(args, stack, receiver)
        storm.setup()
        storm.run()
        res = storm.check()
        rc = report(storm, res, time.time() - t0)
        failed = rc != 0
        return rc
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        stack.stop_all()
        if failed or args.keep_logs:
            kept = Path(tempfile.gettempdir()) / f"fault_storm_logs_{os.getpid()}"
            shutil.copytree(stack.logs, kept, dirs_exist_ok=True)
            log(f"logs kept in {kept}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
