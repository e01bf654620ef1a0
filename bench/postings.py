#!/usr/bin/env python
"""Posting throughput, measured against PostgreSQL's own limit in the same run.

  python bench/postings.py [--seconds 10] [--accounts 1000] [--history 100000] [--rounds 3]

Measures, in each of --rounds rounds, pgbench and then each rate below; prints
each round, then each figure's median and the median of its per-round ratio
to the pgbench figure:
  - pgbench: a transaction that locks two rows, updates them and inserts three rows;
  - pgbench running the service's own posting statement (64 captured postings replayed under
    new keys and ids): what PostgreSQL alone can post, the ceiling for any client;
  - entry_post in-process with 2, 4, 8 worker processes (uniform accounts);
  - the hot-account case (every entry touches one account), 4 and 2 workers, and pgbench's
    own hot/uniform ratio at 4 and 2 clients (its transaction with account 1 in every one);
  - CPU per posting, Python and its PostgreSQL backend, and the rate those bound;
  - HTTP: POST /v1/ledger-entries against gunicorn (--http-workers, default 2 per core), 8 connections from wrk
    (apt install wrk; without it, 8 threads of Python requests, which compete for the cores);
  - balance read time (current and as-of) at 1k vs --history lines on one account.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from urllib.parse import urlparse

from _common import ROOT, bench_tenant, django_setup, pair_poster, pg_args

WARMUP_POSTINGS = 50

PGBENCH_BODY = r"""
BEGIN;
SELECT bal FROM pgb_acct WHERE id IN (least(:a, :b), greatest(:a, :b)) ORDER BY id FOR UPDATE;
UPDATE pgb_acct SET bal = bal - 1 WHERE id = :a;
UPDATE pgb_acct SET bal = bal + 1 WHERE id = :b;
INSERT INTO pgb_entry (note) VALUES ('x');
INSERT INTO pgb_line (account, amount) VALUES (:a, -1), (:b, 1);
END;
"""
PGBENCH_SCRIPT = "\\set a random(1, :naccounts)\n\\set b random(1, :naccounts)\n" + PGBENCH_BODY
# The same transaction with account 1 in every one: PostgreSQL's own
# hot-account figure, which the service's hot/uniform ratio is read against.
PGBENCH_HOT_SCRIPT = "\\set a 1\n\\set b random(2, :naccounts)\n" + PGBENCH_BODY


def _pgbench_tps(url: str, args: list[str], *, clients: int, seconds: int, env: dict | None = None) -> float:
    """pgbench on the bench database for `seconds` with `clients`: its tps."""
    result = subprocess.run(
        ["pgbench", "-n", *pg_args(url), "-c", str(clients), "-j", "2", "-T", str(seconds), *args,
         urlparse(url).path.lstrip("/")],
        capture_output=True, text=True, env=env,
    )
    if result.returncode != 0 or "tps = " not in result.stdout:
        raise SystemExit(f"bench: pgbench failed:\n{result.stderr[-2000:]}")
    return float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))


def pgbench(url: str, *, clients: int, seconds: int, accounts: int, hot: bool = False) -> float:
    setup = f"""
    DROP TABLE IF EXISTS pgb_acct, pgb_entry, pgb_line;
    CREATE TABLE pgb_acct (id int PRIMARY KEY, bal bigint NOT NULL DEFAULT 0);
    CREATE TABLE pgb_entry (id bigserial PRIMARY KEY, note text, at timestamptz DEFAULT now());
    CREATE TABLE pgb_line (id bigserial PRIMARY KEY, account int, amount bigint);
    INSERT INTO pgb_acct SELECT g, 0 FROM generate_series(1, {accounts}) g;
    """
    subprocess.run(["psql", "-q", *pg_args(url), urlparse(url).path.lstrip("/"), "-c", setup], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
        f.write(PGBENCH_HOT_SCRIPT if hot else PGBENCH_SCRIPT)
        f.flush()
        return _pgbench_tps(url, ["-D", f"naccounts={accounts}", "-f", f.name], clients=clients, seconds=seconds)


def _service_worker(url, schema_slug, codes, hot, seconds, start_evt, counter, ready):
    django_setup(url)
    from django.db import connection

    from tenants.models import Tenant

    connection.set_tenant(Tenant.objects.get(slug=schema_slug))
    one = pair_poster(slug=schema_slug, codes=codes, hot=hot)

    # A server process posts for hours: measure that, not its first
    # postings (the connection, psycopg's prepared statements, the posting
    # cache's first read).
    for _ in range(WARMUP_POSTINGS):
        one()
    with ready.get_lock():
        ready.value += 1
    start_evt.wait()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        one()
        done += 1
    with counter.get_lock():
        counter.value += done


def _cpu_split_worker(url, schema_slug, codes, n, out):
    """One process, n postings: CPU seconds spent in Python and in its
    PostgreSQL backend (from /proc), and the WAL written (bytes, full-page
    images) per posting (cluster-wide: nothing else posts meanwhile)."""
    django_setup(url)
    from django.db import connection

    from tenants.models import Tenant

    connection.set_tenant(Tenant.objects.get(slug=schema_slug))
    one = pair_poster(slug=schema_slug, codes=codes, seed=7)

    for _ in range(100):
        one()
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]

    def backend_cpu() -> float:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wal() -> tuple[int, int]:
        # Bytes from the WAL position itself; full-page images from
        # pg_stat_wal, after making this backend flush what it has pending
        # (it reports at most once a second on its own).
        with connection.cursor() as cur:
            cur.execute("SELECT pg_stat_force_next_flush()")
            cur.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn, wal_fpi FROM pg_stat_wal")
            return tuple(int(v) for v in cur.fetchone())

    w0 = wal()
    p0, c0 = backend_cpu(), time.process_time()
    for _ in range(n):
        one()
    cpu = ((time.process_time() - c0) / n, (backend_cpu() - p0) / n)
    w1 = wal()
    out.put((*cpu, (w1[0] - w0[0]) / n, (w1[1] - w0[1]) / n))


def cpu_split(url, slug, codes, *, n=2000) -> tuple[float, float, float, float]:
    """(python, postgres) CPU seconds per posting, WAL bytes and full-page
    images per posting; PostgreSQL runs on this machine."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    p = ctx.Process(target=_cpu_split_worker, args=(url, slug, codes, n, out))
    p.start()
    result = out.get()
    p.join()
    return result


def direct_statements(post, n: int) -> list[tuple[str, dict]]:
    """Call post() n times; return the statements (SQL text, parameters)
    that the one-statement posting sent for the postings it answered."""
    from ledger.posting import post as posting

    sent, real_execute, real_direct = [], posting.hot_execute, posting.one_statement_post

    def direct(**kwargs):
        mine = []

        def capture(sql, params=None):
            mine.append((sql, dict(params)))
            return real_execute(sql, params)

        posting.hot_execute = capture
        try:
            answered = real_direct(**kwargs)
        finally:
            posting.hot_execute = real_execute
        if answered is not None:
            sent.extend(mine)
        return answered

    posting.one_statement_post = direct
    try:
        for _ in range(n):
            post()
    finally:
        posting.one_statement_post = real_direct
    return sent


def _capture_worker(url, schema_slug, codes, n, out):
    django_setup(url)
    from django.db import connection

    from tenants.models import Tenant

    connection.set_tenant(Tenant.objects.get(slug=schema_slug))
    one = pair_poster(slug=schema_slug, codes=codes, seed=11)
    one()  # a new process's first posting fills its posting cache on the full path
    out.put((connection.schema_name, direct_statements(one, n)))


def _literal(value) -> str:
    """An SQL literal pgbench sends untouched: an E'' string whose colons are
    escaped, since pgbench reads `:name` anywhere in a statement as its
    variable (a timestamp's `:15` would be one)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "''").replace(":", "\\x3a")
    return f"E'{text}'"


def statement_script(sql: str, params: dict) -> str:
    """A pgbench script that repeats one captured posting statement under
    new unique values: the idempotency key, the posting id and the event id
    (which every posting's unique indexes take) become pgbench's random
    numbers; everything else -- accounts, amounts, bodies -- is the captured
    posting's. PostgreSQL then runs the service's exact statement, triggers
    and checks, with no Python in the loop."""
    tokens = {"k": params["key"],
              "p": json.loads(params["e"])["posting_id"].split("_", 1)[1],
              "v": json.loads(params["rec_extra"])["event_id"].split("_", 1)[1]}

    def expr(value) -> str:
        if not isinstance(value, str):
            return _literal(value)
        used = [name for name, tok in tokens.items() if tok in value]
        for name in used:
            value = value.replace(tokens[name], f"@{name}@")
        out = _literal(value)
        for name in used:
            out = f"replace({out}, '@{name}@', :{name}::text)"
        return out

    body = re.sub(r"%\((\w+)\)s", lambda m: expr(params[m.group(1)]), sql).replace("%%", "%")
    head = "".join(f"\\set {name} random(1, 9223372036854775806)\n" for name in tokens)
    return head + body + ";\n"


def statement_pgbench(url, slug, codes, *, clients: int, seconds: int, scripts: int = 64) -> float:
    """pgbench running the service's own posting statement (statement_script),
    `scripts` captured postings over random pairs of accounts, one picked at
    random per transaction; prepared, generic plans, as the service runs it."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    p = ctx.Process(target=_capture_worker, args=(url, slug, codes, scripts, out))
    p.start()
    schema, sent = out.get()
    p.join()
    if len(sent) != scripts:
        raise SystemExit(f"bench: {scripts - len(sent)} of {scripts} postings took the full path")
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, (sql, params) in enumerate(sent):
            files += ["-f", os.path.join(d, f"posting{i}.sql")]
            with open(files[-1], "w") as f:
                f.write(statement_script(sql, params))
        env = dict(os.environ, PGOPTIONS=f"-c search_path={schema},public -c plan_cache_mode=force_generic_plan")
        return _pgbench_tps(url, ["-M", "prepared", *files], clients=clients, seconds=seconds, env=env)


def service_rate(url, slug, codes, *, workers, seconds, hot=None) -> float:
    ctx = mp.get_context("spawn")
    start, counter, ready = ctx.Event(), ctx.Value("l", 0), ctx.Value("l", 0)
    procs = [ctx.Process(target=_service_worker, args=(url, slug, codes, hot, seconds, start, counter, ready))
             for _ in range(workers)]
    for p in procs:
        p.start()
    # The clock starts when every worker has imported Django and warmed up:
    # eight workers importing at once on two cores take longer than any
    # fixed pause, and a late worker would count its import as posting time.
    give_up = time.monotonic() + 300
    while ready.value < workers:
        if time.monotonic() > give_up or not all(p.is_alive() for p in procs):
            for p in procs:
                p.kill()
            raise SystemExit("bench: a posting worker failed to start")
        time.sleep(0.05)
    start.set()
    for p in procs:
        p.join()
    return counter.value / seconds


WRK_SCRIPT = r"""
-- One POST /v1/ledger-entries per request, each with its own idempotency key
-- (thread id + counter) and a random pair of accounts.
local codes = {}
local n = 0
local counter = 0
tid = 0  -- global: setup() sets it in each thread's own Lua state
setup = function(thread)
  n = n + 1
  thread:set("tid", n)
end
init = function(args)
  for i = 1, #args do codes[i] = args[i] end
  math.randomseed(tid * 7919 + os.time())
end
request = function()
  counter = counter + 1
  local a = codes[math.random(#codes)]
  local b = codes[math.random(#codes)]
  while b == a do b = codes[math.random(#codes)] end
  local body = '{"debit":"' .. a .. '","credit":"' .. b .. '","amount_minor":1,"currency":"USD",' ..
               '"idempotency_key":"wrk-' .. KEYPREFIX .. '-' .. tid .. '-' .. counter .. '"}'
  return wrk.format("POST", "/v1/ledger-entries", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer " .. APIKEY}, body)
end
"""


def http_rate(url, slug, key, codes, *, seconds, workers, connections=8) -> tuple[float, str]:
    """POST /v1/ledger-entries against gunicorn (`workers` sync workers: a
    worker idles while PostgreSQL works, so 2 per core). The load comes
    from wrk (C, a few percent of a core) when it is installed: on a 2-core
    machine a Python client would take a core from the server it measures.
    Without wrk, 8 threads of `requests`. Every response must be a 201."""
    import requests

    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url, ZENTRA_LOG_LEVEL="WARNING", ZENTRA_DEBUG="0",
               DJANGO_SETTINGS_MODULE="zentra_site.settings", ZENTRA_ALLOWED_HOSTS="127.0.0.1,localhost")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "zentra_site.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level",
         "warning"], cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except requests.RequestException:
                time.sleep(0.2)
        wrk = shutil.which("wrk")
        if wrk:
            return _wrk_rate(wrk, port, key, codes, seconds=seconds, connections=connections), "wrk"
        return _requests_rate(port, key, codes, seconds=seconds, threads=connections), "python requests"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def _wrk_rate(wrk, port, key, codes, *, seconds, connections) -> float:
    def run(duration: str) -> str:
        script = WRK_SCRIPT.replace("KEYPREFIX", repr(uuid.uuid4().hex[:8])).replace("APIKEY", repr(key))
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(script)
        out = subprocess.run([wrk, "-t", "2", "-c", str(connections), "-d", duration, "-s", f.name,
                              f"http://127.0.0.1:{port}", "--", *codes], check=True, capture_output=True, text=True).stdout
        assert "Non-2xx or 3xx responses" not in out and "Socket errors" not in out, out
        return out

    run("2s")  # warm both workers (imports, prepared statements) before the clock starts
    return float(re.search(r"Requests/sec:\s+([\d.]+)", run(f"{seconds}s")).group(1))


def _requests_rate(port, key, codes, *, seconds, threads) -> float:
    import requests

    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def client(i):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {key}"
        rnd = random.Random(i)
        while time.perf_counter() < stop:
            a, b = rnd.sample(codes, 2)
            r = s.post(f"http://127.0.0.1:{port}/v1/ledger-entries", json={
                "debit": a, "credit": b, "amount_minor": 1, "currency": "USD",
                "idempotency_key": uuid.uuid4().hex})
            assert r.status_code == 201, r.text
            counts[i] += 1

    ts = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_history(account_code: str, other_code: str, n: int) -> None:
    """Bulk-load n synthetic entries on one account. Triggers are switched off
    for speed (superuser only), so every derived column is computed here the
    way the triggers would, and ledger_check verifies the result afterwards."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("SELECT id FROM ledger_account WHERE code = %s", [account_code])
        a = cur.fetchone()[0]
        cur.execute("SELECT id FROM ledger_account WHERE code = %s", [other_code])
        b = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM ledger_ledgerentry")
        base = cur.fetchone()[0]
        cur.execute(f"""
            INSERT INTO ledger_ledgerentry (id, posting_id, kind, idempotency_key, request_hash, external_reference,
                source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id,
                policy_decisions, line_count)
            SELECT {base} + g, 'pst_hist_' || ({base} + g), 'standard', 'hist-' || ({base} + g), 'h', '', '', '',
                   now() - interval '1 day' + g * interval '1 ms', now(), '{{}}', 'system', 'system:bench', 'bench',
                   '[]', 2
            FROM generate_series(1, %s) g""", [n])
        cur.execute(f"""
            INSERT INTO ledger_idempotencyrecord (key, operation, request_hash, response_status, response_body, outcome,
                entry_id, actor_ref, correlation_id, created_at, completed_at, replay_count, replays)
            SELECT 'hist-' || ({base} + g), 'bench', 'h', 201, '{{}}', 'posted', {base} + g, 'system:bench', 'bench',
                   now(), now(), 0, '[]' FROM generate_series(1, %s) g""", [n])
        cur.execute("SELECT setval(pg_get_serial_sequence('ledger_ledgerentry', 'id'), %s)", [base + n])
        cur.execute("SELECT posted_balance, normal_side FROM ledger_account WHERE id = %s", [a])
        a_bal, a_norm = cur.fetchone()
        cur.execute("SELECT posted_balance, normal_side FROM ledger_account WHERE id = %s", [b])
        b_bal, b_norm = cur.fetchone()
        cur.execute(f"""
            INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency, balance_after, posted_at)
            SELECT {base} + g, %s, 'debit', 1, 'USD', %s + g * (CASE WHEN %s = 'debit' THEN 1 ELSE -1 END),
                   now() - interval '1 day' + g * interval '1 ms'
            FROM generate_series(1, %s) g
            UNION ALL
            SELECT {base} + g, %s, 'credit', 1, 'USD', %s + g * (CASE WHEN %s = 'credit' THEN 1 ELSE -1 END),
                   now() - interval '1 day' + g * interval '1 ms'
            FROM generate_series(1, %s) g
            ORDER BY 1, 2""", [a, a_bal, a_norm, n, b, b_bal, b_norm, n])
        for acc, norm, bal in ((a, a_norm, a_bal), (b, b_norm, b_bal)):
            side_is_debit = (acc == a)
            delta = n if (norm == ("debit" if side_is_debit else "credit")) else -n
            cur.execute(
                "UPDATE ledger_account SET posted_balance = posted_balance + %s, lines_count = lines_count + %s, "
                "debits_total = debits_total + %s, credits_total = credits_total + %s WHERE id = %s",
                [delta, n, n if side_is_debit else 0, 0 if side_is_debit else n, acc])


def read_times(code: str, iterations: int = 2000) -> tuple[float, float]:
    from django.utils import timezone

    from ledger.selectors import account_get, balance_as_of

    acc = account_get(code)
    at = timezone.now() - timezone.timedelta(hours=12)
    for _ in range(50):
        balance_as_of(account=acc, at=at)
    t = time.perf_counter()
    for _ in range(iterations):
        account_get(code)
    now_us = (time.perf_counter() - t) / iterations * 1e6
    t = time.perf_counter()
    for _ in range(iterations):
        balance_as_of(account=acc, at=at)
    asof_us = (time.perf_counter() - t) / iterations * 1e6
    return now_us, asof_us


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--history", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3, help="pgbench and every rate, measured this many times")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--http-workers", type=int, default=2 * (os.cpu_count() or 1),
                    help="gunicorn sync workers (default: 2 per core)")
    args = ap.parse_args()

    url, t, codes = bench_tenant("zentra_bench", accounts=args.accounts)
    from django.db import connection

    from tests.ledger import factories as f

    connection.set_tenant(t.tenant)
    f.account(code="hot", normal_side="debit", kind="asset")
    connection.close()

    cores = os.cpu_count()
    print(f"# zentra posting bench: {cores} cores, {args.seconds}s per run, {args.accounts} accounts,"
          f" {args.rounds} rounds")
    # Each round measures pgbench and then everything compared with it, so a
    # ratio compares runs minutes apart at most; the summary takes the median
    # of each round's ratio. This VM's speed drifts by 15% and more within
    # minutes: a single pgbench figure at the start moved every ratio with it.
    rounds: list[dict[str, float]] = []
    for r in range(1, args.rounds + 1):
        fig = {"pgbench": pgbench(url, clients=8, seconds=args.seconds, accounts=args.accounts),
               "statement": statement_pgbench(url, "bench", codes, clients=8, seconds=args.seconds)}
        for w in (2, 4, 8):
            fig[f"uniform{w}"] = service_rate(url, "bench", codes, workers=w, seconds=args.seconds)
        # Hot with 2 workers too, one per core: with 4 workers and 4 backends
        # on 2 cores the lock holder also waits for a core, which stretches its lock.
        for w in (4, 2):
            fig[f"hot{w}"] = service_rate(url, "bench", codes, workers=w, seconds=args.seconds, hot="hot")
            fig[f"pg_uniform{w}"] = pgbench(url, clients=w, seconds=args.seconds, accounts=args.accounts)
            fig[f"pg_hot{w}"] = pgbench(url, clients=w, seconds=args.seconds, accounts=args.accounts, hot=True)
        if not args.skip_http:
            fig["http"], client = http_rate(url, "bench", t.api_key.plaintext, codes, seconds=args.seconds,
                                            workers=args.http_workers)
        rounds.append(fig)
        print(f"round {r}: " + ", ".join(f"{k} {v:.0f}" for k, v in fig.items()), flush=True)

    def med(f) -> float:
        return statistics.median(f(fig) for fig in rounds)

    def best(fig) -> float:
        return max(fig["uniform2"], fig["uniform4"], fig["uniform8"])

    print(f"# medians of {len(rounds)} rounds; each ratio is the median of the rounds' own ratios")
    print(f"pgbench (lock 2 rows, update 2, insert 3 rows), 8 clients: {med(lambda g: g['pgbench']):9.1f} tps   1.00x")
    print(f"pgbench running entry_post's own statement, 8 clients:   {med(lambda g: g['statement']):9.1f} tps "
          f" {med(lambda g: g['statement'] / g['pgbench']):5.2f}x   (PostgreSQL's share of a posting, no Python)")
    for w in (2, 4, 8):
        print(f"entry_post in-process, {w} workers:                     {med(lambda g: g[f'uniform{w}']):9.1f} /s "
              f" {med(lambda g: g[f'uniform{w}'] / g['pgbench']):5.2f}x")
    print(f"entry_post in-process, best of 2/4/8 workers:             {med(best):9.1f} /s "
          f" {med(lambda g: best(g) / g['pgbench']):5.2f}x   service/statement = {med(lambda g: best(g) / g['statement']):.2f}")
    for w in (4, 2):
        print(f"hot account (every entry touches one), {w} workers:        {med(lambda g: g[f'hot{w}']):9.1f} /s "
              f" {med(lambda g: g[f'hot{w}'] / g['pgbench']):5.2f}x"
              f"   hot/uniform({w}) = {med(lambda g: g[f'hot{w}'] / g[f'uniform{w}']):.2f}"
              f"   (pgbench's own at {w} clients: {med(lambda g: g[f'pg_hot{w}'] / g[f'pg_uniform{w}']):.2f})")
    if not args.skip_http:
        print(f"HTTP POST /v1/ledger-entries, gunicorn {args.http_workers} workers:       {med(lambda g: g['http']):9.1f} /s "
              f" {med(lambda g: g['http'] / g['pgbench']):5.2f}x"
              f"   http/service(best) = {med(lambda g: g['http'] / best(g)):.2f}   (load from {client}, 8 connections)")
    py_cpu, pg_cpu, wal_bytes, wal_fpi = cpu_split(url, "bench", codes)
    ref = med(lambda g: g["pgbench"])
    print(f"CPU per posting (1 process): python {py_cpu * 1e3:.2f} ms + postgres backend {pg_cpu * 1e3:.2f} ms"
          f" = {(py_cpu + pg_cpu) * 1e3:.2f} ms; {cores} cores bound it at {cores / (py_cpu + pg_cpu):.0f}/s"
          f" ({cores / (py_cpu + pg_cpu) / ref:.2f}x)")
    print(f"WAL per posting (1 process): {wal_bytes:.0f} bytes, {wal_fpi:.2f} full-page images")

    django_setup(url)
    connection.set_tenant(t.tenant)
    f.account(code="small", normal_side="debit", kind="asset")
    f.account(code="big", normal_side="debit", kind="asset")
    load_history("small", "acc00000", 1_000)
    load_history("big", "acc00001", args.history)
    from ledger.checks import ledger_check

    violations = ledger_check()
    small_now, small_asof = read_times("small")
    big_now, big_asof = read_times("big")
    print(f"balance read, 1k lines:      current {small_now:7.1f} us   as-of {small_asof:7.1f} us")
    print(f"balance read, {args.history // 1000}k lines:    current {big_now:7.1f} us   as-of {big_asof:7.1f} us"
          f"   ratio as-of {big_asof / small_asof:.2f}x, current {big_now / small_now:.2f}x")
    print(f"ledger_check after the run: {'ok' if not violations else violations[:5]}")


if __name__ == "__main__":
    main()
