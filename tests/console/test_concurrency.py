"""Simultaneous submits of one form (a double click that reaches two server
threads at once) produce one outcome."""
from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from core.actors import Actor
from console.models import FormSubmission
from console.services.submissions import form_submission_run
from ledger.models import ApprovalRequest, IdempotencyRecord, LedgerEntry, Policy
from ledger.services.approvals import manual_entry_submit
from ledger.posting.rules import LineSpec
from ledger.services.policies import policy_revise

from .conftest import THRESHOLD

pytestmark = pytest.mark.slow
N = 6


def run_together(ct, fn) -> list:
    barrier = threading.Barrier(N)
    results: list = [None] * N

    def worker(i: int) -> None:
        try:
            connection.set_tenant(ct.tenant)
            barrier.wait()
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def operator(ct) -> Actor:
    u = ct.users["operator1"]
    return Actor(kind="user", ref=f"user:{u.pk}:{u.username}", label=u.username)


@pytest.mark.parametrize("amount", [THRESHOLD, THRESHOLD + 1])
def test_one_form_key_one_outcome_under_concurrency(console_tenant, amount):
    key = f"con_{uuid.uuid4().hex}"
    lines = [LineSpec(account="customer_balance", side="debit", amount_minor=amount, currency="USD"),
             LineSpec(account="reserved_balance", side="credit", amount_minor=amount, currency="USD")]
    results = run_together(console_tenant, lambda: manual_entry_submit(
        actor=operator(console_tenant), tenant=console_tenant.tenant.slug, idempotency_key=key, lines=lines))
    assert not [r for r in results if isinstance(r, Exception)], results
    with console_tenant.schema():
        if amount > THRESHOLD:
            assert ApprovalRequest.objects.filter(idempotency_key=key).count() == 1
            assert not IdempotencyRecord.objects.filter(key=key).exists()
            assert sum(not r.approval_replayed for r in results) == 1
        else:
            assert LedgerEntry.objects.filter(idempotency_key=key).count() == 1
            assert IdempotencyRecord.objects.get(key=key).replay_count == N - 1
            assert len({r.outcome.entry_id for r in results}) == 1


def test_one_console_form_one_policy_version_under_concurrency(console_tenant):
    key = f"pol_{uuid.uuid4().hex}"
    actor = operator(console_tenant)

    def submit():
        return form_submission_run(
            actor=actor, key=key, action="policy.revise", payload={"name": "four_eyes", "threshold": 5},
            work=lambda: {"version": policy_revise(actor=actor, name="four_eyes",
                                                   params={"threshold_minor": 5}).version})

    results = run_together(console_tenant, submit)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert {r.result["version"] for r in results} == {2} and sum(not r.replayed for r in results) == 1
    with console_tenant.schema():
        assert Policy.objects.filter(name="four_eyes").count() == 2
        assert FormSubmission.objects.filter(key=key).count() == 1
