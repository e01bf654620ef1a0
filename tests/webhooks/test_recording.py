"""webhooks.services.recording: the retry schedule and its jitter, attempts
recorded (each only while its claim is still ours), dead letters, and
endpoint health under a frozen clock (the services take `now`; the receiver
is real, on loopback)."""
import threading
from datetime import timedelta

from django.db import connection

from audit.models import AuditEvent
from events.models import Event
from tests.webhooks.conftest import T0, emit_at, in_tenant, make_endpoint, run_due
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.recording import retry_delay
from webhooks.services.sending import delivery_send_due

SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]


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
    emit_at(tenant_a, T0)
    now = T0
    with in_tenant(tenant_a):
        for number in range(1, 9):
            assert run_due(now - timedelta(milliseconds=1)) == []  # not due a moment early
            (attempt,) = run_due(now, rand=lambda: 0.5)  # rand 0.5 → no jitter
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
        assert run_due(now + timedelta(days=30)) == []
    assert len(receiver.requests) == 8
    assert len({r.msg_id for r in receiver.requests}) == 1  # same webhook-id on every retry
    assert len({r.headers["webhook-timestamp"] for r in receiver.requests}) >= 1


def test_jitter_spreads_retries(tenant_a, receiver, no_kick):
    receiver.respond = lambda req: (503, b"", {})
    make_endpoint(tenant_a, url=receiver.url)
    emit_at(tenant_a, T0, n=20)
    with in_tenant(tenant_a):
        run_due(T0)
        delays = {(d.next_attempt_at - T0).total_seconds() for d in Delivery.objects.all()}
    assert all(4.5 <= d <= 5.5 for d in delays) and len(delays) > 10


def test_http_410_disables_the_endpoint_at_once_with_an_event(tenant_a, tenant_b, receiver, no_kick):
    receiver.respond = lambda req: (410, b"gone", {})
    watcher_rx_url = receiver.url.replace("/hooks", "/watcher")
    gone = make_endpoint(tenant_a, url=receiver.url, event_types=["ledger.*"]).endpoint
    watcher = make_endpoint(tenant_a, url=watcher_rx_url, event_types=["webhook.endpoint.disabled"]).endpoint
    emit_at(tenant_a, T0, n=2)
    with in_tenant(tenant_a):
        attempts = run_due(T0)
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
            emit_at(tenant_a, day)
            run_due(day)
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
            emit_at(tenant_a, T0 + timedelta(days=day))
            run_due(T0 + timedelta(days=day))
            state = WebhookEndpoint.objects.get(pk=ep.pk)
            assert state.failing_since == expected and state.enabled


def test_results_of_a_batch_whose_lease_ran_out_are_not_recorded(tenant_a, receiver, no_kick, settings):
    """A stalled dispatcher: its lease ran out while its sends were held, and
    another dispatcher recorded them as lost and scheduled the retry. The
    stalled results then must not land, and each retry goes out once."""
    hold = threading.Event()
    receiver.respond = lambda req: (hold.wait(30), (200, b"", {}))[1]
    make_endpoint(tenant_a, url=receiver.url)
    events = emit_at(tenant_a, T0, n=5)
    stalled = []

    def stalled_dispatcher():
        with in_tenant(tenant_a):
            stalled.append(delivery_send_due(now=T0))
        connection.close()

    thread = threading.Thread(target=stalled_dispatcher)
    thread.start()
    assert receiver.wait_for(lambda rx: len(rx.requests) == 5, timeout=20)
    after_lease = T0 + timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS + 1)
    with in_tenant(tenant_a):
        assert delivery_send_due(now=after_lease).claimed == 0  # lost recorded, retries scheduled
        assert DeliveryAttempt.objects.filter(outcome="lost", number=1).count() == 5
    hold.set()
    thread.join(30)
    (report,) = stalled
    assert report.claimed == 5 and report.recorded == 0
    with in_tenant(tenant_a):
        assert DeliveryAttempt.objects.count() == 5
        retry_at = after_lease + timedelta(seconds=6)
        assert delivery_send_due(now=retry_at).recorded == 5
        assert set(DeliveryAttempt.objects.filter(outcome="succeeded").values_list("number", flat=True)) == {2}
    assert sorted(r.msg_id for r in receiver.requests) == sorted(2 * [e.public_id for e in events])
