#!/usr/bin/env python
"""What a random id costs a unique index, against a time-ordered one.

  python bench/id_locality.py [--rows 1000000] [--inserts 5000]

Every posting writes a posting id, an event id and (over HTTP) a correlation
id, each under a btree index. This fills two scratch tables with `--rows`
ids each -- one made by uuid4, one by core.ids.time_ordered_hex --
then, after a CHECKPOINT, inserts `--inserts` new ids into each, one
transaction per id as postings do, and prints per insert: the WAL written,
and the full-page images among it (the first change to a page after a
checkpoint logs the whole 8 kB page).

A random id lands on a random leaf page: on a large index nearly every
insert is the first touch of its page since the checkpoint. A time-ordered
id lands on the rightmost page, as a sequence's does.
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import uuid

import psycopg

from _common import bench_database_url, fresh_database, pg_args

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from core.ids import time_ordered_hex  # noqa: E402

MAKERS = {"uuid4": lambda: uuid.uuid4().hex, "time-ordered": time_ordered_hex}


def _wal(conn: psycopg.Connection) -> tuple[int, int]:
    """WAL bytes from the WAL position itself; full-page images from
    pg_stat_wal, once this backend has flushed what it has pending (it
    reports at most once a second on its own)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    return conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn, wal_fpi FROM pg_stat_wal").fetchone()


def measure(conn: psycopg.Connection, table: str, make, *, rows: int, inserts: int) -> tuple[float, float]:
    conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, public_id varchar(40) NOT NULL UNIQUE)")
    with conn.cursor() as cur, cur.copy(f"COPY {table} (public_id) FROM STDIN") as copy:
        buf = io.StringIO()
        for _ in range(rows):
            buf.write(f"x_{make()}\n")
        copy.write(buf.getvalue())
    conn.execute(f"VACUUM ANALYZE {table}")
    conn.execute("CHECKPOINT")
    wal0, fpi0 = _wal(conn)
    for _ in range(inserts):
        with conn.transaction():
            conn.execute(f"INSERT INTO {table} (public_id) VALUES (%s)", [f"x_{make()}"])
    wal1, fpi1 = _wal(conn)
    return float(wal1 - wal0) / inserts, (fpi1 - fpi0) / inserts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--inserts", type=int, default=5_000)
    args = ap.parse_args()
    url = bench_database_url("zentra_bench_ids")
    fresh_database(url)
    print(f"# unique index on {args.rows:,} ids, then {args.inserts:,} inserts after a checkpoint, one per transaction")
    results = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, make in MAKERS.items():
            table = "ids_" + name.replace("-", "_")
            results[name] = measure(conn, table, make, rows=args.rows, inserts=args.inserts)
            wal, fpi = results[name]
            print(f"{name:13s} WAL {wal:8.0f} bytes/insert   full-page images {fpi:5.2f}/insert")
    r, t = results["uuid4"], results["time-ordered"]
    print(f"uuid4/time-ordered: WAL {r[0] / t[0]:.1f}x")
    subprocess.run(["dropdb", "--if-exists", *pg_args(url), "zentra_bench_ids"], check=True)  # 2M ids: not kept


if __name__ == "__main__":
    main()
