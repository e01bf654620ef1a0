from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.utils import InternalError
from django_tenants.utils import tenant_context

from audit import chain
from audit.chain import GENESIS_HASH, canonical_json, content_hash, link_hash, register_sealable
from audit.models import AuditEvent, ChainLink
from audit.selectors import chain_check
from audit.services.chain import chain_seal, chain_verify
from tests.audit.conftest import pending, raw_tamper, sealed_start
from tests.conftest import ROOT, subprocess_env


def links(tenant) -> list[ChainLink]:
    with tenant_context(tenant):
        return list(ChainLink.objects.order_by("seq"))


def test_canonical_json_is_sorted_compact_utf8():
    assert canonical_json({"b": 1, "a": {"z": "é", "y": [1, 2]}}) == '{"a":{"y":[1,2],"z":"é"},"b":1}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    t = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert canonical_json({"t": t}) == b'{"t":"2026-01-02T01:04:05.000000Z"}'


def test_hash_formula():
    ch = content_hash("audit_event", 7, {"a": 1})
    expected = hashlib.sha256(b'{"content":{"a":1},"record_id":7,"record_type":"audit_event"}').hexdigest()
    assert ch == expected
    assert link_hash(GENESIS_HASH, ch, 1) == hashlib.sha256(f"{GENESIS_HASH}{ch}1".encode()).hexdigest()


def test_seal_links_every_record_once_gapless_and_verifies(tenant_a, record_events, capsys):
    base = sealed_start(tenant_a.tenant)
    ids = record_events(tenant_a.tenant, 5)
    with tenant_context(tenant_a.tenant):
        first = chain_seal()
        again = chain_seal()
    assert first.sealed == 5 and again.sealed == 0
    chain_links = links(tenant_a.tenant)
    assert [ln.seq for ln in chain_links] == list(range(1, base + 6))
    assert [ln.record_id for ln in chain_links[base:]] == ids
    assert chain_links[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(chain_links, chain_links[1:]))
    assert first.head_seq == base + 5 and first.head_hash == chain_links[-1].hash
    with tenant_context(tenant_a.tenant):
        report = chain_verify()
    assert report.ok and report.links_checked == base + 5 and report.first_broken is None
    assert report.head.seq == base + 5 and pending(report.unsealed) == {}
    call_command("verify_chain", "--tenant", tenant_a.tenant.slug)
    record_events(tenant_a.tenant, 2)
    capsys.readouterr()
    call_command("verify_chain", "--tenant", tenant_a.tenant.slug, "--no-seal", "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["tenant"] == tenant_a.tenant.slug and out["ok"] is True
    assert out["links_checked"] == base + 5 and pending(out["unsealed"]) == {"audit_event": 2} and out["sealed_now"] == 0
    with pytest.raises(CommandError, match="unknown tenant"):
        call_command("verify_chain", "--tenant", "no-such-tenant")


def test_seal_limit_and_window(tenant_a, record_events):
    base = sealed_start(tenant_a.tenant)
    record_events(tenant_a.tenant, 7)
    with tenant_context(tenant_a.tenant):
        assert chain_seal(limit=3).sealed == 3
        assert chain_seal(since=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).sealed == 0
        assert chain_seal().sealed == 4
        assert chain_check().links_checked == base + 7


def test_late_committing_record_is_sealed_after_newer_ones(tenant_a, record_events):
    """Ids and timestamps commit out of order: a record stamped (and numbered)
    before the head must still be sealed when it finally commits."""
    from core.actors import Actor
    from audit.services.audit import audit_record

    base = sealed_start(tenant_a.tenant)
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    late: dict = {}

    def slow_writer():
        try:
            with tenant_context(tenant_a.tenant), transaction.atomic():
                late["id"] = audit_record(actor=Actor.system("slow"), action="slow.write", target_type="t",
                                          target_id=1).pk
                started.set()
                release.wait(10)
        finally:
            connection.close()
            done.set()

    t = threading.Thread(target=slow_writer)
    t.start()
    assert started.wait(10)
    newer = record_events(tenant_a.tenant, 2)
    with tenant_context(tenant_a.tenant):
        assert chain_seal().sealed == 2  # the slow one is not committed yet
    assert late["id"] < newer[0]
    release.set()
    t.join(10)
    with tenant_context(tenant_a.tenant):
        assert chain_seal().sealed == 1
        report = chain_verify()
    assert report.ok and report.links_checked == base + 3
    assert [ln.record_id for ln in links(tenant_a.tenant)][base:] == newer + [late["id"]]


def test_one_byte_tamper_is_named_and_verify_chain_exits_nonzero(tenant_a, record_events, capsys):
    base = sealed_start(tenant_a.tenant)
    ids = record_events(tenant_a.tenant, 6)
    victim = ids[3]
    with tenant_context(tenant_a.tenant):
        chain_seal()
        with raw_tamper(), connection.cursor() as cur:
            # One byte: "test.thing" -> "test.thinG".
            cur.execute("UPDATE audit_auditevent SET action = 'test.thinG' WHERE id = %s", [victim])
        report = chain_verify()
    assert not report.ok
    b = report.first_broken
    assert (b.seq, b.record_type, b.record_id, b.reason) == (base + 4, "audit_event", victim, "content_changed")
    assert b.expected == links(tenant_a.tenant)[base + 3].content_hash and b.actual != b.expected
    assert report.links_checked == base + 4

    with pytest.raises(CommandError, match=rf"seq {base + 4} \(audit_event {victim}\): content_changed"):
        call_command("verify_chain", "--tenant", tenant_a.tenant.slug)
    assert "BROKEN" in capsys.readouterr().out

    proc = subprocess.run(
        [sys.executable, "manage.py", "verify_chain", "--tenant", tenant_a.tenant.slug],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert f"audit_event {victim}" in proc.stdout + proc.stderr


def test_tamper_in_json_field_and_deleted_record(tenant_a, record_events):
    base = sealed_start(tenant_a.tenant)
    ids = record_events(tenant_a.tenant, 4)
    with tenant_context(tenant_a.tenant):
        chain_seal()
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("""UPDATE audit_auditevent SET after = jsonb_set(after, '{amount_minor}', '125001')
                           WHERE id = %s""", [ids[0]])
        assert chain_verify().first_broken.record_id == ids[0]
    with tenant_context(tenant_a.tenant):
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [ids[0]])
        b = chain_verify().first_broken
    assert (b.seq, b.reason, b.actual) == (base + 1, "record_missing", None)


def test_deleted_link_is_detected(tenant_a, record_events):
    base = sealed_start(tenant_a.tenant)
    record_events(tenant_a.tenant, 5)
    with tenant_context(tenant_a.tenant):
        chain_seal()
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("DELETE FROM audit_chainlink WHERE seq = %s", [base + 3])
        report = chain_verify(seal=False)
    b = report.first_broken
    assert (b.seq, b.reason, b.expected, b.actual) == (base + 4, "seq_gap", base + 3, base + 4)
    # The record that lost its link is not silently re-chained in its place.
    with tenant_context(tenant_a.tenant):
        assert not chain_verify().ok


def test_reordered_links_are_detected(tenant_a, record_events):
    base = sealed_start(tenant_a.tenant)
    record_events(tenant_a.tenant, 5)
    two, three = base + 2, base + 3
    with tenant_context(tenant_a.tenant):
        chain_seal()
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("UPDATE audit_chainlink SET seq = seq + 1000 WHERE seq IN (%s, %s)", [two, three])
            cur.execute("UPDATE audit_chainlink SET seq = CASE seq WHEN %s THEN %s ELSE %s END WHERE seq > 1000",
                        [1000 + two, three, two])
        b = chain_verify().first_broken
    assert b.seq == two and b.reason == "prev_hash_mismatch"


def test_rewritten_link_hash_is_detected(tenant_a, record_events):
    base = sealed_start(tenant_a.tenant)
    record_events(tenant_a.tenant, 3)
    with tenant_context(tenant_a.tenant):
        chain_seal()
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("UPDATE audit_chainlink SET content_hash = repeat('a', 64) WHERE seq = %s", [base + 2])
        b = chain_verify().first_broken
    assert (b.seq, b.reason) == (base + 2, "link_hash_mismatch")


def test_database_refuses_links_that_do_not_extend_the_head(tenant_a, record_events):
    base = sealed_start(tenant_a.tenant)
    ids = record_events(tenant_a.tenant, 2)
    with tenant_context(tenant_a.tenant):
        chain_seal(limit=1)
        n = base + 1
        head = ChainLink.objects.get(seq=n)
        ch = "b" * 64
        now = dt.datetime.now(dt.timezone.utc)
        bad = [
            dict(seq=n + 2, prev_hash=head.hash, hash=link_hash(head.hash, ch, n + 2)),   # gap
            dict(seq=n + 1, prev_hash=GENESIS_HASH, hash=link_hash(GENESIS_HASH, ch, n + 1)),  # not the head
            dict(seq=n + 1, prev_hash=head.hash, hash="c" * 64),                          # wrong formula
            dict(seq=n, prev_hash=head.prev_hash, hash=link_hash(head.prev_hash, ch, n)),  # reuse
        ]
        for fields in bad:
            with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
                ChainLink.objects.create(record_type="audit_event", record_id=ids[1], record_at=now,
                                         content_hash=ch, sealed_at=now, **fields)
        assert chain_verify().ok


def test_concurrent_sealers_build_one_gapless_chain(tenant_a, record_events):
    base = sealed_start(tenant_a.tenant)
    record_events(tenant_a.tenant, 300)
    barrier = threading.Barrier(4)
    results, failures = [], []

    def sealer():
        try:
            with tenant_context(tenant_a.tenant):
                barrier.wait(10)
                for _ in range(3):
                    results.append(chain_seal(limit=60).sealed)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    def writer():
        try:
            barrier.wait(10)
            record_events(tenant_a.tenant, 50)
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sealer) for _ in range(2)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    barrier.wait(10)
    for t in threads:
        t.join(60)
    assert not failures
    with tenant_context(tenant_a.tenant):
        report = chain_verify()
        seqs = list(ChainLink.objects.order_by("seq").values_list("seq", flat=True))
        records = set(ChainLink.objects.values_list("record_id", flat=True))
        assert records == set(AuditEvent.objects.values_list("id", flat=True))
    assert report.ok and pending(report.unsealed) == {}
    assert seqs == list(range(1, base + 351))
    assert sum(results) + report.sealed_now == 350


def test_busy_sealer_skips_instead_of_waiting(tenant_a, record_events):
    sealed_start(tenant_a.tenant)
    record_events(tenant_a.tenant, 2)
    holding, release = threading.Event(), threading.Event()

    def hold_lock():
        from audit.services.chain import _lock

        try:
            with tenant_context(tenant_a.tenant), transaction.atomic():
                _lock(wait=True)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    t = threading.Thread(target=hold_lock)
    t.start()
    assert holding.wait(10)
    try:
        with tenant_context(tenant_a.tenant):
            assert chain_seal(wait=False).skipped == "busy"
    finally:
        release.set()
        t.join(10)
    with tenant_context(tenant_a.tenant):
        assert chain_seal(wait=False).sealed == 2


def test_chain_disabled_reports_unsealed_not_broken(tenant_a, record_events, settings):
    base = sealed_start(tenant_a.tenant)
    settings.CHAIN_ENABLED = False
    record_events(tenant_a.tenant, 3)
    with tenant_context(tenant_a.tenant):
        assert chain_seal().skipped == "disabled"
        report = chain_verify()
    assert report.ok and report.links_checked == base and pending(report.unsealed) == {"audit_event": 3}
    assert report.as_dict()["unsealed_total"] == 3 and not report.chain_enabled


def test_records_committed_after_the_seal_are_unsealed_not_broken(tenant_a, record_events):
    base = sealed_start(tenant_a.tenant)
    record_events(tenant_a.tenant, 2)
    with tenant_context(tenant_a.tenant):
        chain_seal()
    record_events(tenant_a.tenant, 3)
    with tenant_context(tenant_a.tenant):
        report = chain_verify(seal=False)
    assert report.ok and report.links_checked == base + 2 and pending(report.unsealed) == {"audit_event": 3}


def test_other_record_types_plug_in_and_interleave_by_time(tenant_a, record_events, monkeypatch):
    """The registry is how ledger entries join the chain; webhooks' outbox
    Event stands in for a second record type here."""
    from events.models import Event
    from events.services import event_emit

    monkeypatch.setattr(chain, "_registry", dict(chain._registry))
    register_sealable("test_outbox_event", Event, lambda e: {"type": e.type, "payload": e.payload,
                                                            "created_at": chain.canonical_time(e.created_at)})
    base = sealed_start(tenant_a.tenant)
    a1 = record_events(tenant_a.tenant, 1)
    with tenant_context(tenant_a.tenant), transaction.atomic():
        ev = event_emit(type="test.happened", payload={"n": 1})
    a2 = record_events(tenant_a.tenant, 1)
    with tenant_context(tenant_a.tenant):
        assert chain_seal().sealed == 3
        order = [(ln.record_type, ln.record_id) for ln in ChainLink.objects.order_by("seq")][base:]
        assert order == [("audit_event", a1[0]), ("test_outbox_event", ev.pk), ("audit_event", a2[0])]
        assert chain_verify().ok
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("UPDATE webhooks_event SET payload = '{\"n\": 2}' WHERE id = %s", [ev.pk])
        b = chain_verify().first_broken
    assert (b.seq, b.record_type, b.record_id, b.reason) == (base + 2, "test_outbox_event", ev.pk, "content_changed")


def test_register_sealable_refuses_a_second_model_for_a_type(monkeypatch):
    from events.models import Event

    monkeypatch.setattr(chain, "_registry", dict(chain._registry))
    with pytest.raises(ValueError, match="already registered"):
        register_sealable("audit_event", Event, lambda e: {})


def test_verify_chain_all_tenants_isolated(tenant_a, tenant_b, record_events):
    base_a, base_b = sealed_start(tenant_a.tenant), sealed_start(tenant_b.tenant)
    record_events(tenant_a.tenant, 2)
    record_events(tenant_b.tenant, 3)
    with tenant_context(tenant_a.tenant):
        chain_seal()
    with tenant_context(tenant_b.tenant):
        chain_seal()
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("UPDATE audit_auditevent SET actor_ref = 'system:evil' WHERE id = (SELECT min(id) FROM audit_auditevent)")
    assert [ln.seq for ln in links(tenant_a.tenant)] == list(range(1, base_a + 3))
    assert [ln.seq for ln in links(tenant_b.tenant)] == list(range(1, base_b + 4))
    with tenant_context(tenant_a.tenant):
        assert chain_verify().ok
    with pytest.raises(CommandError, match=tenant_b.tenant.slug):
        call_command("verify_chain")
