"""With a real Celery worker: deliveries are applied by the providers.apply
task in the tenant's schema, waiting events are re-tried when their
prerequisite applies, and 20 concurrent deliveries of one event make one
entry."""
from __future__ import annotations

import uuid

from django.test import Client
from django_tenants.utils import schema_context

from ledger.checks import ledger_check
from ledger.models import LedgerEntry
from providers.models import InboundDelivery, InboundStatus
from providers.services.inbound import inbound_apply
from tests.providers.conftest import charge_refunded, payment_succeeded, run_threads

FINAL = {InboundStatus.APPLIED, InboundStatus.DUPLICATE, InboundStatus.FAILED}


def test_same_event_sent_20_times_concurrently_is_one_entry(books, celery_worker_proc):
    pi = "pi_" + uuid.uuid4().hex[:10]
    body = payment_succeeded(pi, 1_234, event_id="evt_" + uuid.uuid4().hex[:16])
    results = run_threads(20, lambda i: books.post(body, client=Client()).status_code)
    assert results == [200] * 20, results
    books.wait_for(lambda: InboundDelivery.objects.filter(status__in=FINAL).count() == 20, what="20 applied")
    deliveries = books.deliveries()
    statuses = sorted(d.status for d in deliveries)
    assert statuses == [InboundStatus.APPLIED] + [InboundStatus.DUPLICATE] * 19, statuses
    applied = next(d for d in deliveries if d.status == InboundStatus.APPLIED)
    assert {d.applied_by_id for d in deliveries if d.status == InboundStatus.DUPLICATE} == {applied.id}
    assert {d.entry_id for d in deliveries} == {applied.entry_id}
    with schema_context(books.schema):
        assert LedgerEntry.objects.filter(external_reference=pi).count() == 1
        assert ledger_check() == []


def test_20_stored_copies_applied_at_once_post_once(books):
    """The boundary itself, without the worker's scheduling: 20 threads apply
    20 stored deliveries of one event at the same moment."""
    pi = "pi_" + uuid.uuid4().hex[:10]
    body = payment_succeeded(pi, 999, event_id="evt_" + uuid.uuid4().hex[:16])
    ids = []
    for _ in range(20):
        r = books.post(body)
        assert r.status_code == 200
        ids.append(books.deliveries(public_id=r.json()["id"])[0].id)

    def apply(i: int):
        with schema_context(books.schema):
            return inbound_apply(delivery_id=ids[i]).status

    results = run_threads(20, apply)
    assert not [r for r in results if isinstance(r, BaseException)], results
    statuses = sorted(d.status for d in books.deliveries())
    assert statuses == [InboundStatus.APPLIED] + [InboundStatus.DUPLICATE] * 19, statuses
    with schema_context(books.schema):
        assert LedgerEntry.objects.filter(external_reference=pi).count() == 1
        assert ledger_check() == []


def test_refund_before_payment_is_applied_by_the_worker_once_the_payment_arrives(books, celery_worker_proc):
    pi = "pi_" + uuid.uuid4().hex[:10]
    assert books.post(charge_refunded(pi, 800)).status_code == 200
    books.wait_for(lambda: InboundDelivery.objects.filter(status=InboundStatus.WAITING).exists(), what="waiting")
    assert books.post(payment_succeeded(pi, 800)).status_code == 200
    books.wait_for(lambda: InboundDelivery.objects.filter(status=InboundStatus.APPLIED).count() == 2,
                   what="payment then refund applied")
    refund, payment = books.deliveries()
    assert payment.applied_at < refund.applied_at
    assert refund.entry.kind == "reversal"
    with schema_context(books.schema):
        assert LedgerEntry.objects.get(id=refund.entry_id).reversal_of_id == payment.entry_id
        assert ledger_check() == []
