"""Webhook test kit: a real HTTP receiver on loopback, tenant-schema helpers,
and dedicated Celery workers (with beat) that tests may kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest
from django.db import connection, transaction

from core.actors import Actor
from tests.conftest import ROOT, die_with_parent, subprocess_env

TEST_ACTOR = Actor.system("tests")
# A frozen clock for the delivery services (they take `now`): far from the
# real one, so nothing else is due at the same moment.
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=dt_timezone.utc)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    peer: tuple = ()  # the client's (address, port): one per connection

    @property
    def msg_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request. `respond(req) -> (status, body, headers)` decides the answer."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    respond: Callable[[Received], tuple[int, bytes, dict]] = lambda req: (200, b"ok", {})
    keep_alive: bool = False  # False: every answer closes its connection
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def ids(self) -> set[str]:
        with self.lock:
            return {r.msg_id for r in self.requests}

    def wait_for(self, predicate: Callable[["Receiver"], bool], timeout: float) -> bool:
        deadline = time.time() + timeout
        with self.arrived:
            while not predicate(self):
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.arrived.wait(min(left, 0.2))
        return True


def _handler(rx: Receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time(),
                           tuple(self.client_address))
            with rx.lock:
                rx.requests.append(req)
            with rx.arrived:
                rx.arrived.notify_all()
            status, out, headers = rx.respond(req)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            if not rx.keep_alive:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(out)

        do_POST = _serve
        do_GET = _serve

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        # A sender that timed out or was killed hangs up mid-answer: expected here.
        pass


@pytest.fixture
def receiver():
    server = _QuietServer(("127.0.0.1", 0), None)
    rx = Receiver(server=server)
    server.RequestHandlerClass = _handler(rx)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rx
    server.shutdown()
    server.server_close()


@contextmanager
def in_tenant(provisioned):
    tenant = getattr(provisioned, "tenant", provisioned)
    previous = connection.tenant if connection.schema_name != "public" else None
    connection.set_tenant(tenant)
    try:
        yield tenant
    finally:
        if previous is not None:
            connection.set_tenant(previous)
        else:
            connection.set_schema_to_public()


def emit(provisioned, *, n: int = 1, type: str = "ledger.entry.created", payload: dict | None = None) -> list:
    """Emit n events in one committed transaction, as a domain app would."""
    from events.services import event_emit

    with in_tenant(provisioned), transaction.atomic():
        return [
            event_emit(type=type, payload=payload if payload is not None else {"entry_id": f"ent_{i}", "amount_minor": 100 + i},
                       actor=TEST_ACTOR)
            for i in range(n)
        ]


def emit_at(provisioned, when, n: int = 1) -> list:
    """Emit, then move the deliveries' first attempt onto the frozen clock."""
    from webhooks.models import Delivery

    events = emit(provisioned, n=n)
    with in_tenant(provisioned):
        Delivery.objects.filter(event__in=events).update(next_attempt_at=when)
    return events


def run_due(now, **kw) -> list:
    """What the dispatcher does, synchronously at `now` in the current
    tenant: the attempt made for each delivery that was due (in claim order),
    None where it got none."""
    from django.db.models import F, Max, Q

    from webhooks.models import Delivery, DeliveryAttempt
    from webhooks.services.sending import delivery_send_due

    due = list(
        Delivery.objects.filter(status="pending", next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .exclude(leased_until__isnull=False, sent_seq=F("claim_seq"))  # a lost claim: recorded, not attempted
        .order_by("next_attempt_at", "id").values_list("pk", flat=True)
    )
    before = DeliveryAttempt.objects.aggregate(newest=Max("id"))["newest"] or 0
    while delivery_send_due(now=now, **kw).full:
        pass
    made = {a.delivery_id: a for a in DeliveryAttempt.objects.filter(id__gt=before).exclude(outcome="lost")}
    return [made.get(pk) for pk in due]


def make_endpoint(provisioned, *, url: str, event_types: list[str] | None = None, **kw):
    from webhooks.services.endpoints import endpoint_create

    with in_tenant(provisioned):
        return endpoint_create(url=url, event_types=event_types or ["*"], actor=TEST_ACTOR, **kw)


@pytest.fixture
def no_kick(settings):
    """Only the test drives dispatch: no on-commit kick reaches a running worker."""
    settings.WEBHOOKS_KICK_ON_COMMIT = False


class DedicatedWorker:
    """A worker (+ embedded beat) on its own queue, in its own process group
    so a test can SIGKILL all of it; other workers never see its tasks."""

    def __init__(self, log_dir: Path, queue: str, env: dict[str, str]) -> None:
        self.log = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.queue = queue
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    def start(self, timeout: float = 60) -> "DedicatedWorker":
        self._log_file = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "zentra_site", "worker", "-B", "-s",
             str(self.log.with_suffix(".beat")), "-l", "INFO", "-c", "2", "-P", "prefork", "--without-gossip",
             "--without-mingle", "-n", f"wh-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()}")
            if " ready." in self.log.read_text():
                return self
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"worker did not start:\n{self.log.read_text()}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log_file:
            self._log_file.close()


@pytest.fixture
def dedicated_workers(tmp_path):
    """`start(**env)` → a running DedicatedWorker; all are stopped at the end."""
    started: list[DedicatedWorker] = []
    queue = f"wh-test-{uuid.uuid4().hex[:8]}"

    def start(**extra_env: str) -> DedicatedWorker:
        env = subprocess_env() | {"ZENTRA_CELERY_QUEUE": queue, **extra_env}
        worker = DedicatedWorker(tmp_path, queue, env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
