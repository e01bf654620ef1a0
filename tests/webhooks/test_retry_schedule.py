"""Retries, dead letters, replay and endpoint health under a frozen clock:
the services take `now`, the receiver is real (loopback HTTP)."""
import threading
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection
from django.db.models import F, Max, Q

from audit.models import AuditEvent
from tests.webhooks.conftest import TEST_ACTOR, emit, in_tenant, make_endpoint
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.models import Event
from webhooks.services.recording import retry_delay
from webhooks.services.replays import delivery_recover_failed, delivery_replay
from webhooks.services.sending import delivery_send_due

SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=dt_timezone.utc)


def _run_due(now, **kw):
    """What the dispatcher does, synchronously at `now`: the attempt made for
    each delivery that was due (in claim order), None where it got none."""
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


def _emit_at(tenant, when, n=1):
    """Emit, then move the deliveries' first attempt onto the frozen clock."""
    events = emit(tenant, n=n)
    with in_tenant(tenant):
        Delivery.objects.filter(event__in=events).update(next_attempt_at=when)
    return events


def test_schedule_and_jitter_bounds():
    for made, base in enumerate(SCHEDULE):
        low = retry_delay(attempts_made=made, rand=lambda: 0.0)
        high = retry_delay(attempts_made=made, rand=lambda: 0.999999)
        assert low == timedelta(seconds=base * 0.9)
        assert base * 1.0999 <= high.total_seconds() <= base * 1.1
    assert retry_delay(attempts_made=8) is None


def test_failing_delivery_follows_the_schedule_then_dead_letters(tenant_a, receiver, no_kick):
    receiver.respond = lambda req: (500, b"boom" * 600, {})
    make_endpoint(tenant_a, url=receiver.url)
    _emit_at(tenant_a, T0)
    now = T0
    with in_tenant(tenant_a):
        for number in range(1, 9):
            assert _run_due(now - timedelta(milliseconds=1)) == []  # not due a moment early
            (attempt,) = _run_due(now, rand=lambda: 0.5)  # rand 0.5 → no jitter
            assert attempt.number == number and attempt.status_code == 500 and attempt.outcome == "failed", attempt.error
            assert attempt.trigger == "scheduled" and len(attempt.response_excerpt) == 1024
            delivery = Delivery.objects.get(pk=attempt.delivery_id)
            assert delivery.attempt_count == number
            if number < 8:
                assert delivery.status == "pending"
                assert delivery.next_attempt_at - now == timedelta(seconds=SCHEDULE[number])
                now = delivery.next_attempt_at
            else:
                assert delivery.status == "failed" and delivery.next_attempt_at is None and delivery.failed_at
        assert _run_due(now + timedelta(days=30)) == []
    assert len(receiver.requests) == 8
    assert len({r.msg_id for r in receiver.requests}) == 1  # same webhook-id on every retry
    assert len({r.headers["webhook-timestamp"] for r in receiver.requests}) >= 1


def test_jitter_spreads_retries(tenant_a, receiver, no_kick):
    receiver.respond = lambda req: (503, b"", {})
    make_endpoint(tenant_a, url=receiver.url)
    _emit_at(tenant_a, T0, n=20)
    with in_tenant(tenant_a):
        _run_due(T0)
        delays = {(d.next_attempt_at - T0).total_seconds() for d in Delivery.objects.all()}
    assert all(4.5 <= d <= 5.5 for d in delays) and len(delays) > 10


def test_replay_of_a_dead_letter_is_one_manual_attempt_with_the_same_webhook_id(tenant_a, api, receiver, no_kick):
    receiver.respond = lambda req: (500, b"", {})
    make_endpoint(tenant_a, url=receiver.url)
    _emit_at(tenant_a, T0)
    now = T0
    with in_tenant(tenant_a):
        for _ in range(8):
            (attempt,) = _run_due(now)
            now = Delivery.objects.get(pk=attempt.delivery_id).next_attempt_at or now
        delivery = Delivery.objects.select_related("endpoint").get()
        assert delivery.status == "failed"
    failed = api.get(f"/v1/webhook-endpoints/{delivery.endpoint.public_id}/deliveries?status=failed").json()["results"]
    assert [d["id"] for d in failed] == [delivery.public_id]

    resp = api.post(f"/v1/webhook-deliveries/{delivery.public_id}/replay", format="json")
    assert resp.status_code == 202 and resp.json()["status"] == "pending" and resp.json()["next_trigger"] == "manual"
    receiver.respond = lambda req: (200, b"thanks", {})
    with in_tenant(tenant_a):
        (manual,) = _run_due(datetime.now(dt_timezone.utc) + timedelta(seconds=1))
        assert manual.number == 9 and manual.trigger == "manual" and manual.outcome == "succeeded"
        assert Delivery.objects.get().status == "succeeded"
        assert AuditEvent.objects.filter(action="webhook_delivery.replay", target_id=delivery.public_id).count() == 1
    assert len({r.msg_id for r in receiver.requests}) == 1 and len(receiver.requests) == 9


def test_failed_manual_replay_is_final(tenant_a, receiver, no_kick):
    receiver.respond = lambda req: (500, b"", {})
    make_endpoint(tenant_a, url=receiver.url)
    _emit_at(tenant_a, T0)
    with in_tenant(tenant_a):
        now = T0
        for _ in range(8):
            (a,) = _run_due(now)
            now = Delivery.objects.get().next_attempt_at or now
        delivery_replay(delivery=Delivery.objects.get(), actor=TEST_ACTOR, now=now)
        (manual,) = _run_due(now)
        d = Delivery.objects.get()
        assert manual.trigger == "manual" and d.status == "failed" and d.next_attempt_at is None


def test_recover_replays_everything_failed_since(tenant_a, api, receiver, no_kick):
    receiver.respond = lambda req: (500, b"", {})
    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    _emit_at(tenant_a, T0, n=3)
    with in_tenant(tenant_a):
        now = T0
        for _ in range(8):
            _run_due(now)
            now = max(d.next_attempt_at or now for d in Delivery.objects.all())
        assert Delivery.objects.filter(status="failed").count() == 3
        # One older failure that must not be recovered.
        old = Delivery.objects.order_by("id").first()
        Delivery.objects.filter(pk=old.pk).update(failed_at=T0 - timedelta(days=10))
        # The endpoint has been failing for days by the frozen clock; keep it enabled here.
        WebhookEndpoint.objects.filter(pk=ep.pk).update(failing_since=None)
    resp = api.post(f"/v1/webhook-endpoints/{ep.public_id}/recover", {"since": T0.isoformat()}, format="json")
    assert resp.status_code == 202 and resp.json()["deliveries_queued"] == 2
    receiver.respond = lambda req: (204, b"", {})
    with in_tenant(tenant_a):
        attempts = _run_due(datetime.now(dt_timezone.utc) + timedelta(seconds=1))
        assert len(attempts) == 2 and all(a.trigger == "manual" and a.outcome == "succeeded" for a in attempts)
        assert Delivery.objects.filter(status="succeeded").count() == 2
        assert Delivery.objects.get(pk=old.pk).status == "failed"
        audit = AuditEvent.objects.get(action="webhook_endpoint.recover")
        assert audit.metadata["deliveries_queued"] == 2


def test_http_410_disables_the_endpoint_at_once_with_an_event(tenant_a, tenant_b, receiver, no_kick):
    receiver.respond = lambda req: (410, b"gone", {})
    watcher_rx_url = receiver.url.replace("/hooks", "/watcher")
    gone = make_endpoint(tenant_a, url=receiver.url, event_types=["ledger.*"]).endpoint
    watcher = make_endpoint(tenant_a, url=watcher_rx_url, event_types=["webhook.endpoint.disabled"]).endpoint
    _emit_at(tenant_a, T0, n=2)
    with in_tenant(tenant_a):
        attempts = _run_due(T0)
        assert {a.status_code for a in attempts if a} == {410}
        ep = WebhookEndpoint.objects.get(pk=gone.pk)
        assert ep.enabled is False and ep.disabled_reason == "gone"
        assert set(Delivery.objects.filter(endpoint=gone).values_list("status", flat=True)) == {"failed"}
        event = Event.objects.get(type="webhook.endpoint.disabled")
        assert event.payload["endpoint_id"] == gone.public_id and event.payload["reason"] == "gone"
        assert Delivery.objects.filter(event=event, endpoint=watcher).exists()
        audit = AuditEvent.objects.get(action="webhook_endpoint.disable", target_id=gone.public_id)
        assert audit.actor_ref == "system:webhooks.delivery"


def test_five_days_of_failures_disable_the_endpoint(tenant_a, receiver, no_kick):
    receiver.respond = lambda req: (502, b"", {})
    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    with in_tenant(tenant_a):
        day = T0
        for i in range(6):
            _emit_at(tenant_a, day)
            _run_due(day)
            state = WebhookEndpoint.objects.get(pk=ep.pk)
            assert state.failing_since == T0
            assert state.enabled is (i < 5), i
            day += timedelta(days=1)
        assert state.disabled_reason == "failing"
        assert Event.objects.filter(type="webhook.endpoint.disabled").count() == 1


def test_a_success_resets_the_failure_clock(tenant_a, receiver, no_kick):
    answer = {"status": 500}
    receiver.respond = lambda req: (answer["status"], b"", {})
    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    with in_tenant(tenant_a):
        for day, status, expected in ((0, 500, T0), (1, 200, None), (6, 500, T0 + timedelta(days=6))):
            answer["status"] = status
            _emit_at(tenant_a, T0 + timedelta(days=day))
            _run_due(T0 + timedelta(days=day))
            state = WebhookEndpoint.objects.get(pk=ep.pk)
            assert state.failing_since == expected and state.enabled


def test_dispatchers_racing_for_one_due_delivery_send_it_once(tenant_a, receiver, no_kick):
    import time

    def slow(req):
        time.sleep(0.5)
        return 200, b"", {}

    receiver.respond = slow
    make_endpoint(tenant_a, url=receiver.url)
    _emit_at(tenant_a, T0)
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
    _emit_at(tenant_a, T0)
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
        (retry,) = _run_due(delivery.next_attempt_at)
        assert retry.number == 2 and retry.outcome == "succeeded"


def test_replay_refuses_disabled_endpoints_and_in_flight_deliveries(tenant_a, receiver, no_kick):
    from webhooks import errors
    from webhooks.services.endpoints import endpoint_disable

    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    _emit_at(tenant_a, T0)
    hold = threading.Event()
    receiver.respond = lambda req: (hold.wait(30), (200, b"", {}))[1]

    def dispatcher():
        with in_tenant(tenant_a):
            delivery_send_due(now=T0)
        connection.close()

    # A dispatcher holds the delivery's lease while its attempt runs.
    thread = threading.Thread(target=dispatcher)
    thread.start()
    assert receiver.wait_for(lambda rx: len(rx.requests) == 1, timeout=20)
    with in_tenant(tenant_a):
        with pytest.raises(errors.WebhookDeliveryInFlight):
            delivery_replay(delivery=Delivery.objects.get(), actor=TEST_ACTOR, now=T0)
        endpoint_disable(endpoint=ep, actor=TEST_ACTOR)
        with pytest.raises(errors.WebhookEndpointDisabled):
            delivery_replay(delivery=Delivery.objects.get(), actor=TEST_ACTOR, now=T0)
        with pytest.raises(errors.WebhookEndpointDisabled):
            delivery_recover_failed(endpoint=ep, since=T0, actor=TEST_ACTOR)
    hold.set()
    thread.join(30)


def test_deliveries_to_a_disabled_endpoint_fail_without_sending(tenant_a, receiver, no_kick):
    from webhooks.services.endpoints import endpoint_disable

    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    _emit_at(tenant_a, T0)
    with in_tenant(tenant_a):
        endpoint_disable(endpoint=ep, actor=TEST_ACTOR)
        assert _run_due(T0) == [None]
        d = Delivery.objects.get(endpoint=ep)
        assert d.status == "failed" and "disabled" in d.last_error
    assert receiver.requests == []


def test_redirects_are_not_followed_and_timeouts_are_recorded(tenant_a, receiver, no_kick, settings):
    import time

    settings.WEBHOOKS_TIMEOUT_SECONDS = 1

    def answer(req):
        if req.path == "/slow":
            time.sleep(2)
            return 200, b"", {}
        if req.path == "/hooks":
            return 302, b"", {"Location": "/elsewhere"}
        return 200, b"", {}

    receiver.respond = answer
    make_endpoint(tenant_a, url=receiver.url, event_types=["ledger.entry.created"])
    make_endpoint(tenant_a, url=receiver.url.replace("/hooks", "/slow"), event_types=["ledger.entry.created"])
    _emit_at(tenant_a, T0)
    with in_tenant(tenant_a):
        attempts = {a.url.rsplit("/", 1)[1]: a for a in _run_due(T0)}
    assert attempts["hooks"].status_code == 302 and attempts["hooks"].outcome == "failed"
    assert attempts["slow"].status_code is None and attempts["slow"].error.startswith("timeout")
    assert 900 <= attempts["slow"].duration_ms < 1900
    assert "/elsewhere" not in [r.path for r in receiver.requests]


def test_the_sweep_finds_every_tenant_with_due_work(tenant_a, tenant_b, tenant_factory, receiver, no_kick):
    from webhooks.services.dispatch import delivery_dispatch_due

    idle = tenant_factory()
    make_endpoint(tenant_a, url=receiver.url)
    make_endpoint(tenant_b, url=receiver.url)
    make_endpoint(idle, url=receiver.url)
    _emit_at(tenant_a, T0, n=2)
    _emit_at(tenant_b, T0 + timedelta(minutes=1), n=3)
    # Far in the future, so other tests' leftover rows are due too; the
    # assertions are on these tenants only.
    far = T0 + timedelta(days=3650)
    due = delivery_dispatch_due(now=far, enqueue=False)
    assert {tenant_a.tenant.schema_name, tenant_b.tenant.schema_name} <= set(due)
    assert idle.tenant.schema_name not in due
    assert connection.schema_name == "public"
    # What each queued dispatcher then does in its tenant's schema.
    for tenant, n in ((tenant_a, 2), (tenant_b, 3)):
        with in_tenant(tenant):
            assert delivery_send_due(now=far).recorded == n
            assert Delivery.objects.filter(status="succeeded", attempt_count=1).count() == n
    assert len(receiver.requests) == 5
