import json

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from ledger.checks import ledger_check
from tests.ledger import factories as f


def test_clean_ledger_passes(in_tenant, capsys):
    a, b = f.account(normal_side="debit", kind="asset"), f.account()
    for i in range(5):
        f.post(debit=a, credit=b, amount=10 + i)
    assert ledger_check() == []
    connection.set_schema_to_public()
    call_command("ledger_check", "--tenant", in_tenant.tenant.slug, "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["tenants"][in_tenant.tenant.slug] == []


def _tamper(sql: str):
    """Change rows with triggers off, as a superuser restoring a bad backup might."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL session_replication_role = replica")
            cur.execute(sql)


@pytest.mark.parametrize("sql,check", [
    ("UPDATE ledger_ledgerline SET amount_minor = amount_minor + 1 WHERE id = (SELECT min(id) FROM ledger_ledgerline)",
     "entry_balanced_per_currency"),
    ("UPDATE ledger_account SET posted_balance = posted_balance + 1 WHERE id = (SELECT min(id) FROM ledger_account)",
     "stored_balance_equals_lines"),
    ("UPDATE ledger_ledgerline SET balance_after = 0 WHERE id = (SELECT max(id) FROM ledger_ledgerline)",
     "running_balance_chain"),
    ("DELETE FROM ledger_ledgerline WHERE id = (SELECT max(id) FROM ledger_ledgerline)", "entry_has_two_lines"),
])
def test_each_tampering_is_named(in_tenant, sql, check, capsys):
    a, b = f.account(normal_side="debit", kind="asset"), f.account()
    f.post(debit=a, credit=b, amount=10)
    f.post(debit=a, credit=b, amount=20)
    _tamper(sql)
    assert check in {v.check for v in ledger_check()}
    connection.set_schema_to_public()
    with pytest.raises(SystemExit) as exc:
        call_command("ledger_check", "--tenant", in_tenant.tenant.slug)
    assert exc.value.code == 1
    assert check in capsys.readouterr().out


# --- the proof-under-faults invariants: each one corrupted on purpose ---------------
NO_GRACE = dict(grace=__import__("datetime").timedelta(0))


def _names(**kw) -> set[str]:
    return {v.check for v in ledger_check(**{**NO_GRACE, **kw})}


def _command_names(slug: str, capsys) -> str:
    connection.set_schema_to_public()
    with pytest.raises(SystemExit) as exc:
        call_command("ledger_check", "--tenant", slug, "--json", "--grace-seconds", "0")
    assert exc.value.code == 1
    return capsys.readouterr().out


@pytest.fixture
def world(tenant_b, in_tenant, settings):
    """Tenant A with a policy-guarded account, a hold, a webhook endpoint that
    got deliveries, and a sealed chain: every check has something to judge."""
    from audit.services.chain import chain_seal
    from ledger.services.boundary import request_hash
    from ledger.services.holds import hold_create
    from ledger.services.policies import policy_create
    from webhooks.services.endpoints import endpoint_create

    settings.WEBHOOKS_KICK_ON_COMMIT = False
    endpoint = endpoint_create(url="http://127.0.0.1:9/hook", event_types=["ledger.*"], actor=f.TEST_ACTOR)
    policy_create(actor=f.TEST_ACTOR, name="no_overdraft", kind="no_negative_available", params={})
    cash = f.account(normal_side="debit", kind="asset")
    wallet = f.account(policies=["no_overdraft"])
    f.post(debit=cash, credit=wallet, amount=100)
    lowering = f.post(debit=wallet, credit=cash, amount=30)
    slug = in_tenant.tenant.slug
    hold_create(actor=f.TEST_ACTOR, tenant=slug, idempotency_key="h1", req_hash=request_hash(operation="t", payload=["h1"]),
                account=wallet.code, amount_minor=10, currency="USD")
    chain_seal()
    assert _names() == set(), ledger_check(**NO_GRACE)
    return {"slug": slug, "wallet": wallet, "cash": cash, "endpoint": endpoint, "lowering": lowering}


def _entry_id(posted) -> int:
    for attr in ("entry_id", "entry"):
        v = getattr(posted, attr, None)
        if v is not None:
            return v if isinstance(v, int) else v.id
    return posted.body["id"]


TAMPERINGS = [
    # An entry that lowered a no-negative account with its policy decision erased.
    ("UPDATE ledger_ledgerentry SET policy_decisions = '[]' WHERE id = {lowering}", "no_negative_policy_evaluated"),
    ("UPDATE ledger_hold SET policy_decisions = '[]'", "hold_policy_evaluated"),
    ("UPDATE ledger_ledgerentry SET policy_decisions = (SELECT jsonb_agg(CASE WHEN d->>'rule' = 'no_negative_available' "
     "THEN d || '{{\"available_after\": -500}}' ELSE d END) FROM jsonb_array_elements(policy_decisions) d) "
     "WHERE id = {lowering}", "policy_decision_consistent"),
    ("UPDATE ledger_idempotencyrecord SET entry_id = (SELECT min(id) FROM ledger_ledgerentry) WHERE entry_id = {lowering}",
     "boundary_record_matches_entry"),
    # No FOREIGN KEY on entry_id (ledger/0012): a record naming no entry at all is found here.
    ("UPDATE ledger_idempotencyrecord SET entry_id = 987654321 WHERE entry_id = {lowering}",
     "boundary_record_matches_entry"),
    ("UPDATE ledger_idempotencyrecord SET response_body = jsonb_set(response_body, '{{posting_id}}', '\"pst_forged\"') "
     "WHERE entry_id = {lowering}", "boundary_response_matches_entry"),
    # The whole posting deleted (entry, lines, boundary record): evidence elsewhere proves it existed.
    ("DELETE FROM ledger_ledgerline WHERE entry_id = {lowering}; "
     "DELETE FROM ledger_idempotencyrecord WHERE entry_id = {lowering}; "
     "DELETE FROM ledger_ledgerentry WHERE id = {lowering}",
     "posting_evidence_has_entry event_entry_exists sealed_records_exist chain_verifies stored_balance_equals_lines"),
    ("DELETE FROM ledger_ledgerentry WHERE id = {lowering}", "line_has_entry_and_account"),
    ("UPDATE ledger_ledgerentry SET kind = 'reversal', reversal_of_id = 987654 WHERE id = {lowering}",
     "referenced_entries_exist"),
    ("INSERT INTO audit_export (kind, filters, exporter, correlation_id, created_at, chain_head_seq, chain_head_hash, "
     "max_row_id) VALUES ('audit_events', '{{}}', 'system:tests', 'c', now(), 1, 'forged', 0)", "export_pins_chain_head"),
    ("UPDATE ledger_ledgerentry SET actor_ref = 'api_key:{other_prefix}' WHERE id = {lowering}",
     "actor_key_of_this_tenant"),
    ("UPDATE webhooks_event SET payload = jsonb_set(payload, '{{tenant}}', '\"someone-else\"') "
     "WHERE id = (SELECT max(id) FROM webhooks_event)", "payload_names_this_tenant"),
    ("UPDATE webhooks_delivery SET endpoint_id = 987654 WHERE id = (SELECT min(id) FROM webhooks_delivery)",
     "delivery_refs_exist"),
    ("DELETE FROM webhooks_delivery WHERE id = (SELECT min(id) FROM webhooks_delivery)", "event_fanned_out"),
    ("UPDATE webhooks_delivery SET next_attempt_at = NULL, leased_until = now() - interval '1 hour' "
     "WHERE id = (SELECT min(id) FROM webhooks_delivery)", "delivery_not_dropped"),
    ("UPDATE webhooks_delivery SET status = 'succeeded', succeeded_at = now() "
     "WHERE id = (SELECT min(id) FROM webhooks_delivery)", "delivery_succeeded_has_attempt"),
    ("UPDATE audit_auditevent SET actor_ref = 'system:someone-else' WHERE id = (SELECT min(id) FROM audit_auditevent)",
     "chain_verifies"),
    ("DELETE FROM audit_auditevent WHERE id = (SELECT max(id) FROM audit_auditevent)", "sealed_records_exist chain_verifies"),
]


@pytest.mark.parametrize("sql,checks", TAMPERINGS, ids=[c.split()[0] for _, c in TAMPERINGS])
def test_each_new_check_names_its_tampering(world, tenant_b, sql, checks, capsys):
    _tamper(sql.format(lowering=_entry_id(world["lowering"]), other_prefix=tenant_b.api_key.api_key.prefix))
    # seal=False: the chain is judged as it was sealed before the tampering.
    found = _names(seal=False)
    for check in checks.split():
        assert check in found, (check, ledger_check(seal=False, **NO_GRACE))
    out = json.loads(_command_names(world["slug"], capsys))
    assert out["ok"] is False
    assert checks.split()[0] in {v["check"] for v in out["tenants"][world["slug"]]}


def test_stuck_lease_the_sweep_will_pick_up_is_not_a_loss(world):
    """A worker died holding a lease: the row is pending, due, lease expired.
    The sweep takes it again (and records the lost attempt), so nothing is dropped."""
    _tamper("UPDATE webhooks_delivery SET leased_until = now() - interval '1 hour', claim_seq = 1, sent_seq = 1")
    assert _names(seal=False) == set()


def test_policy_attached_to_an_overdrawn_account_does_not_rewrite_history(in_tenant):
    """Overdrawn before the policy existed is not a violation; a withdrawal
    after it took effect is."""
    from ledger.services.policies import policy_create

    cash, wallet = f.account(normal_side="debit", kind="asset"), f.account()
    withdrawal = f.post(debit=wallet, credit=cash, amount=50)  # wallet at -50, no policy yet
    policy_create(actor=f.TEST_ACTOR, name="nn_all", kind="no_negative_available", params={}, applies_to_all=True)
    assert _names(seal=False) == set()
    # The same withdrawal stamped after the policy: written around the engine.
    _tamper(f"UPDATE ledger_ledgerentry SET created_at = now() + interval '1 minute' WHERE id = {_entry_id(withdrawal)}")
    assert {"no_negative_where_forbidden", "no_negative_policy_evaluated"} <= _names(seal=False)


def test_an_entry_in_and_out_of_an_overdrawn_guarded_account_is_not_a_withdrawal(in_tenant):
    """Found by the state machine: an account overdrawn before its policy,
    then an entry with a debit and a credit line on it (net zero, which the
    policy passes). Only an entry whose lines on the account net below zero
    lowered it."""
    from ledger.services.accounts import account_policies_set
    from ledger.services.policies import policy_create

    cash, wallet = f.account(normal_side="debit", kind="asset"), f.account()
    f.post(debit=wallet, credit=cash, amount=50)  # wallet at -50, no policy yet
    policy_create(actor=f.TEST_ACTOR, name="nn", kind="no_negative_available", params={})
    account_policies_set(actor=f.TEST_ACTOR, account=wallet, policies=["nn"])
    out = f.post(debit=wallet, credit=wallet, amount=30)
    assert out.status == 201, out.body
    assert _names(seal=False) == set()
    assert f.post(debit=wallet, credit=cash, amount=1).status == 422  # a real withdrawal is still refused
    # One stamped after the policy, written around the engine, is still found.
    withdrawal = f.post(debit=cash, credit=wallet, amount=5)  # into wallet: allowed
    _tamper(f"UPDATE ledger_ledgerline SET side = CASE side WHEN 'debit' THEN 'credit' ELSE 'debit' END "
            f"WHERE entry_id = {_entry_id(withdrawal)}")
    assert "no_negative_where_forbidden" in _names(seal=False)
