"""webhooks.services.claims: leases taken by one dispatcher at a time (racing
dispatchers never send an attempt twice), lost claims recorded when a
started lease runs out, deliveries of disabled endpoints failed at claim
time."""
import threading
from datetime import timedelta

from django.db import connection

from tests.webhooks.conftest import T0, TEST_ACTOR, emit_at, in_tenant, make_endpoint, run_due
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services.sending import delivery_send_due


def test_two_dispatchers_racing_never_send_an_attempt_twice(tenant_a, receiver, no_kick):
    receiver.keep_alive = True
    make_endpoint(tenant_a, url=receiver.url)
    events = emit_at(tenant_a, T0, n=120)
    reports = []

    def dispatcher():
        with in_tenant(tenant_a):
            while True:
                report = delivery_send_due(now=T0, limit=15)
                reports.append(report)
                if report.claimed == 0:
                    break
        connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r.msg_id for r in receiver.requests]
    assert sorted(ids) == sorted(e.public_id for e in events)  # each exactly once
    assert sum(r.claimed for r in reports) == sum(r.recorded for r in reports) == 120
    with in_tenant(tenant_a):
        assert DeliveryAttempt.objects.count() == 120
        assert set(DeliveryAttempt.objects.values_list("number", flat=True)) == {1}
        assert Delivery.objects.filter(status="succeeded", attempt_count=1).count() == 120


def test_dispatchers_racing_for_one_due_delivery_send_it_once(tenant_a, receiver, no_kick):
    import time

    def slow(req):
        time.sleep(0.5)
        return 200, b"", {}

    receiver.respond = slow
    make_endpoint(tenant_a, url=receiver.url)
    emit_at(tenant_a, T0)
    reports = []

    def run():
        with in_tenant(tenant_a):
            reports.append(delivery_send_due(now=T0))
        connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One dispatcher leased it; the others found nothing claimable.
    assert sorted(r.claimed for r in reports) == [0, 0, 1]
    assert len(receiver.requests) == 1
    assert sum(r.recorded for r in reports) == 1
    with in_tenant(tenant_a):
        assert DeliveryAttempt.objects.count() == 1
        # A dispatcher coming later (a duplicate kick or sweep) does nothing either.
        assert delivery_send_due(now=T0).claimed == 0


def test_expired_lease_of_a_started_attempt_is_recorded_as_lost(tenant_a, receiver, no_kick, settings):
    hold = threading.Event()
    receiver.respond = lambda req: (hold.wait(30), (200, b"", {}))[1]
    make_endpoint(tenant_a, url=receiver.url)
    emit_at(tenant_a, T0)
    stalled = []

    def dispatcher():
        with in_tenant(tenant_a):
            stalled.append(delivery_send_due(now=T0))
        connection.close()

    # The dispatcher claimed the delivery and started the send; it never
    # comes back while its lease lasts (as if it had died).
    thread = threading.Thread(target=dispatcher)
    thread.start()
    assert receiver.wait_for(lambda rx: len(rx.requests) == 1, timeout=20)
    with in_tenant(tenant_a):
        lease_end = T0 + timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS)
        assert delivery_send_due(now=lease_end - timedelta(seconds=1)).claimed == 0
        assert delivery_send_due(now=lease_end).claimed == 0  # lost recorded, retry scheduled
        (lost,) = DeliveryAttempt.objects.all()
        assert lost.outcome == "lost" and lost.number == 1 and "worker stopped" in lost.error
        delivery = Delivery.objects.get()
        assert delivery.status == "pending" and delivery.attempt_count == 1
        assert 4.5 <= (delivery.next_attempt_at - lease_end).total_seconds() <= 5.5
    # The late result of the dead claim can no longer land.
    hold.set()
    thread.join(30)
    (report,) = stalled
    assert report.claimed == 1 and report.recorded == 0
    with in_tenant(tenant_a):
        assert DeliveryAttempt.objects.count() == 1
        (retry,) = run_due(delivery.next_attempt_at)
        assert retry.number == 2 and retry.outcome == "succeeded"


def test_deliveries_to_a_disabled_endpoint_fail_without_sending(tenant_a, receiver, no_kick):
    from webhooks.services.endpoints import endpoint_disable

    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    emit_at(tenant_a, T0)
    with in_tenant(tenant_a):
        endpoint_disable(endpoint=ep, actor=TEST_ACTOR)
        assert run_due(T0) == [None]
        d = Delivery.objects.get(endpoint=ep)
        assert d.status == "failed" and "disabled" in d.last_error
    assert receiver.requests == []
