"""Trial balance after a randomized run (entries across several periods,
holds with captures and releases, reversals, adjustments): every number
equals a brute-force sum over the lines, totals tie out per currency, the
snapshot is sealed and verifies in the chain, tampering is detected, and the
CSV export carries a manifest."""
import datetime as dt
import random
import uuid
from collections import defaultdict

import pytest
from django.db import connection

from core.actors import Actor
from audit.services.chain import chain_verify
from closeout.models import AccountingPeriod, PeriodBalance, PeriodSnapshot
from closeout.selectors import trial_balance
from closeout.services.periods import period_close
from ledger.checks import ledger_check
from ledger.models import Account, LedgerLine
from ledger.services.boundary import request_hash
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post
from ledger.services.holds import hold_capture, hold_create, hold_release
from ledger.services.reversals import entry_reverse
from tests.ledger import factories as f

ACTOR = Actor.system("tests")
UTC = dt.timezone.utc


def _key():
    return f"k_{uuid.uuid4().hex}"


def _post(lines, effective_at=None, kind="standard"):
    key = _key()
    out = entry_post(actor=ACTOR, tenant=connection.tenant.slug, idempotency_key=key, req_hash=request_hash(operation="t", payload=key),
                     lines=lines, effective_at=effective_at, kind=kind)
    assert out.status == 201, out.body
    return out


def brute_force(start, end):
    rows = defaultdict(lambda: [0, 0, 0, 0, 0])  # opening, debits, credits, closing, n
    for ln in LedgerLine.objects.select_related("entry", "account"):
        acc, eff = ln.account, ln.entry.effective_at
        signed = ln.amount_minor if ln.side == acc.normal_side else -ln.amount_minor
        r = rows[acc.code]
        if eff < start:
            r[0] += signed
        if eff < end:
            r[3] += signed
        if start <= eff < end:
            r[1 if ln.side == "debit" else 2] += ln.amount_minor
            r[4] += 1
    return rows


@pytest.fixture
def randomized(tenant_factory):
    t = tenant_factory()
    connection.set_tenant(t.tenant)
    rng = random.Random(11)
    usd = [f.account(code=f"usd_a{i}", normal_side="debit", kind="asset") for i in range(4)]
    usd += [f.account(code=f"usd_l{i}") for i in range(4)]
    eur = [f.account(code="eur_a", currency="EUR", normal_side="debit", kind="asset"),
           f.account(code="eur_l", currency="EUR")]
    entries = []
    for _ in range(120):
        month = rng.choice([1, 2, 3])
        eff = dt.datetime(2025, month, rng.randint(1, 28), rng.randint(0, 23), tzinfo=UTC)
        if rng.random() < 0.2:
            a, b, cur = eur[0], eur[1], "EUR"
        else:
            a, b = rng.sample(usd, 2)
            cur = "USD"
        amount = rng.randint(1, 50_000)
        lines = [LineSpec(account=a.code, side="debit", amount_minor=amount, currency=cur),
                 LineSpec(account=b.code, side="credit", amount_minor=amount, currency=cur)]
        kind = "adjustment" if rng.random() < 0.1 else "standard"
        entries.append(_post(lines, eff, kind))
    # Reversals (dated now, in the open period) of some of them, partial and full.
    for out in rng.sample(entries, 15):
        key = _key()
        amount = out.body["lines"][0]["amount_minor"]
        partial = amount // 2 if amount % 2 == 0 and rng.random() < 0.5 else None
        r = entry_reverse(actor=ACTOR, tenant=connection.tenant.slug, entry_id=out.entry_id, idempotency_key=key,
                          req_hash=request_hash(operation="r", payload=key), amount_minor=partial)
        assert r.status == 201, r.body
    # Holds: captured, partly captured then released, released.
    for i in range(6):
        acc = usd[4 + i % 4]
        key = _key()
        h = hold_create(actor=ACTOR, tenant=connection.tenant.slug, idempotency_key=key, req_hash=request_hash(operation="h", payload=key),
                        account=acc.code, amount_minor=1000 + i, currency="USD", destination=usd[i % 4].code)
        assert h.status == 201, h.body
        hid = Account.objects.get(code=acc.code).holds.order_by("-id").first().id
        key = _key()
        c = hold_capture(actor=ACTOR, tenant=connection.tenant.slug, hold_id=hid, idempotency_key=key,
                         req_hash=request_hash(operation="c", payload=key), amount_minor=500)
        assert c.status == 201, c.body
        key = _key()
        assert hold_release(actor=ACTOR, tenant=connection.tenant.slug, hold_id=hid, idempotency_key=key,
                            req_hash=request_hash(operation="rl", payload=key)).status == 200
    yield t
    connection.set_schema_to_public()


def _check(name, start, end):
    tb = trial_balance(name)
    expected = brute_force(start, end)
    got = {r[1]: list(r[4:9]) for r in tb.rows}
    for code, nums in expected.items():
        assert got.get(code) == nums, (name, code, got.get(code), nums)
    assert tb.ties_out, tb.totals
    return tb


def test_trial_balance_ties_out_and_snapshot_seals(randomized):
    jan = (dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 2, 1, tzinfo=UTC))
    feb = (dt.datetime(2025, 2, 1, tzinfo=UTC), dt.datetime(2025, 3, 1, tzinfo=UTC))
    mar = (dt.datetime(2025, 3, 1, tzinfo=UTC), dt.datetime(2025, 4, 1, tzinfo=UTC))
    tb = _check("2025-02", *feb)
    assert tb.source == "computed" and tb.basis == "current_balance"
    period_close(actor=ACTOR, ref="2025-01")
    period_close(actor=ACTOR, ref="2025-02")
    assert _check("2025-01", *jan).source == "snapshot"
    assert _check("2025-02", *feb).source == "snapshot"
    tb = _check("2025-03", *mar)
    assert tb.basis == "previous_snapshot"  # only March's lines were read
    now = dt.datetime.now(UTC)
    this_month = f"{now.year:04d}-{now.month:02d}"
    from closeout.selectors import period_bounds

    _check(this_month, *period_bounds(this_month))
    assert ledger_check() == []

    report = chain_verify()
    assert report.ok, report.as_dict()
    from audit.models import ChainLink

    snaps = list(PeriodSnapshot.objects.values_list("id", flat=True))
    assert len(snaps) == 2
    assert ChainLink.objects.filter(record_type="period_snapshot", record_id__in=snaps).count() == 2

    # One minor unit changed in one sealed balance: the chain names the link,
    # and ledger_check names the account.
    from tests.audit.conftest import raw_tamper

    feb_snap = AccountingPeriod.objects.get(name="2025-02").snapshot_id
    victim = PeriodBalance.objects.filter(snapshot_id=feb_snap).order_by("id").first()
    with raw_tamper(), connection.cursor() as cur:
        cur.execute("UPDATE closeout_periodbalance SET closing_minor = closing_minor + 1 WHERE id = %s", [victim.id])
    report = chain_verify()
    assert not report.ok
    assert report.first_broken.record_type == "period_snapshot" and report.first_broken.record_id == feb_snap
    assert report.first_broken.reason == "content_changed"
    names = {v.check for v in ledger_check()}
    assert "snapshot_closing_is_opening_plus_movement" in names


def test_trial_balance_api_and_csv_export_with_manifest(books):
    api = books
    from tests.closeout.conftest import post_entry

    for i, (amount, eff) in enumerate([(100, "2025-06-03T00:00:00Z"), (250, "2025-06-20T00:00:00Z"),
                                       (40, "2025-05-30T00:00:00Z")]):
        assert post_entry(api, f"e{i}", amount, eff).status_code == 201
    assert post_entry(api, "eur", 9, "2025-06-05T00:00:00Z", debit="eur_cash", credit="eur_customer",
                      currency="EUR").status_code == 201
    r = api.get("/v1/periods/2025-06/trial-balance", {"limit": 2})
    assert r.status_code == 200, r.content
    tb = r.json()
    assert tb["source"] == "computed" and tb["ties_out"] and tb["account_count"] == 4  # revenue was opened after June 2025 and moved nothing in it
    assert tb["totals"]["USD"]["debits_minor"] == 350 and tb["totals"]["EUR"]["credits_minor"] == 9
    assert [x["account_code"] for x in tb["results"]] == ["cash", "customer"] and tb["next_after"] == "customer"
    cash = tb["results"][0]
    assert (cash["opening_minor"], cash["debits_minor"], cash["closing_minor"]) == (40, 350, 390)
    rest = api.get("/v1/periods/2025-06/trial-balance", {"after": "customer", "limit": 10}).json()
    assert [x["account_code"] for x in rest["results"]] == ["eur_cash", "eur_customer"]
    assert rest["next_after"] is None
    assert api.get("/v1/periods/2025-06/trial-balance", {"bogus": 1}).json()["code"] == "unknown_filter"
    # Export only a closed (sealed) period.
    r = api.post("/v1/exports", {"kind": "trial_balance", "filters": {"period": "2025-06"}}, format="json")
    assert r.status_code >= 400 and r.json()["code"] == "period_invalid_transition", r.content
    assert api.post("/v1/periods/2025-05/close").status_code == 200
    assert api.post("/v1/periods/2025-06/close").status_code == 200
    r = api.post("/v1/exports", {"kind": "trial_balance", "filters": {"period": "2025-06", "currency": "USD"}},
                 format="json")
    assert r.status_code == 201, r.content
    export_id = r.json()["id"]
    body = api.get(f"/v1/exports/{export_id}/file")
    csv_text = b"".join(body.streaming_content).decode()
    lines = csv_text.strip().split("\r\n")
    assert lines[0].startswith("period,start_at,end_at,account,currency")
    assert len(lines) == 1 + 2 and any(",cash,USD,debit,40,350,0,390," in ln for ln in lines)
    m = api.get(f"/v1/exports/{export_id}/manifest").json()
    import hashlib

    assert m["row_count"] == 2 and m["sha256"] == hashlib.sha256(csv_text.encode()).hexdigest()
    assert m["chain_head"]["seq"] >= 1 and m["filters"]["period"] == "2025-06" and m["filters"]["snapshot"]
