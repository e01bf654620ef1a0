"""webhooks.services.sending: the batch dispatcher (delivery_send_due): one
claim statement for many deliveries, sends over kept-alive connections on a
few threads, results recorded in bulk; redirects are not followed, timeouts
are recorded; claims that would outrun the lease go back unsent."""
from datetime import timedelta


from tests.webhooks.conftest import T0, emit_at, in_tenant, make_endpoint, run_due
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.sending import delivery_send_due


def test_a_mixed_batch_records_every_attempt_as_it_went(tenant_a, receiver, no_kick):
    receiver.keep_alive = True

    def respond(req):
        if req.path.startswith("/hooks/ok"):
            return 200, b"thanks", {}
        if req.path.startswith("/hooks/moved"):
            return 301, b"", {"Location": "/elsewhere"}
        return 503, b"try later", {}

    receiver.respond = respond
    ok = make_endpoint(tenant_a, url=receiver.url + "/ok").endpoint
    bad = make_endpoint(tenant_a, url=receiver.url + "/down").endpoint
    moved = make_endpoint(tenant_a, url=receiver.url + "/moved").endpoint
    refused = make_endpoint(tenant_a, url="http://127.0.0.1:1/nothing-listens").endpoint
    events = emit_at(tenant_a, T0, n=10)
    with in_tenant(tenant_a):
        report = delivery_send_due(now=T0, rand=lambda: 0.5, limit=100)
        assert report.claimed == report.recorded == 40 and report.released == 0 and not report.full
        attempts = {(a.delivery.endpoint_id, a.delivery.event_id): a
                    for a in DeliveryAttempt.objects.select_related("delivery")}
        assert len(attempts) == 40
        for event in events:
            good = attempts[(ok.pk, event.pk)]
            assert (good.number, good.outcome, good.status_code, good.trigger) == (1, "succeeded", 200, "scheduled")
            assert good.response_excerpt == "thanks" and good.error == "" and good.duration_ms is not None
            assert good.url == ok.url and good.started_at == T0
            down = attempts[(bad.pk, event.pk)]
            assert (down.number, down.outcome, down.status_code, down.response_excerpt) == (1, "failed", 503, "try later")
            redirect = attempts[(moved.pk, event.pk)]
            assert (redirect.outcome, redirect.status_code) == ("failed", 301)
            nobody = attempts[(refused.pk, event.pk)]
            assert nobody.outcome == "failed" and nobody.status_code is None
            assert nobody.error.startswith("connection refused")
        assert Delivery.objects.filter(endpoint=ok, status="succeeded", attempt_count=1, leased_until=None).count() == 10
        for endpoint in (bad, moved, refused):
            retries = Delivery.objects.filter(endpoint=endpoint, status="pending", attempt_count=1, leased_until=None)
            assert retries.count() == 10
            assert {d.next_attempt_at for d in retries} == {T0 + timedelta(seconds=5)}
            assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since == T0
        assert WebhookEndpoint.objects.get(pk=ok.pk).failing_since is None
        assert delivery_send_due(now=T0).claimed == 0  # nothing else is due yet
    assert "/elsewhere" not in [r.path for r in receiver.requests]
    # Kept alive: far fewer connections than requests to the live receiver.
    assert len({r.peer for r in receiver.requests}) < len(receiver.requests) / 2


def test_a_410_in_a_batch_disables_the_endpoint_and_fails_its_unsent_claims(tenant_a, receiver, no_kick):
    receiver.respond = lambda req: (410, b"gone", {})
    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    emit_at(tenant_a, T0, n=30)
    with in_tenant(tenant_a):
        report = delivery_send_due(now=T0)
        assert report.claimed == 30 and report.recorded + report.released == 30
        assert not WebhookEndpoint.objects.get(pk=ep.pk).enabled
        assert Delivery.objects.filter(status="failed").count() == 30
        sent = DeliveryAttempt.objects.count()
        assert sent == report.recorded == len(receiver.requests)
        # Claims not yet started when the 410 came back were never sent.
        unsent = Delivery.objects.filter(attempt_count=0)
        assert unsent.count() == report.released
        assert all(d.last_error == "endpoint disabled: not sent" for d in unsent)


def test_claims_that_would_outrun_the_lease_are_handed_back_unsent(tenant_a, receiver, no_kick, settings):
    """A send starts only while its whole timeout fits in the lease. With a
    slow receiver, the batch cannot finish within the window: the claims it
    did not start go back, without an attempt, for the next dispatcher."""
    import time

    settings.WEBHOOKS_TIMEOUT_SECONDS = 4  # ample for a 0.3 s answer, even on a loaded machine
    settings.WEBHOOKS_LEASE_SECONDS = 7  # a send may start within 7 - 4 - 2 = 1 s of the claim
    settings.WEBHOOKS_LEASE_MARGIN_SECONDS = 2

    def slow(req):
        time.sleep(0.3)
        return 200, b"", {}

    receiver.respond = slow
    receiver.keep_alive = True
    make_endpoint(tenant_a, url=receiver.url)
    # 60 sends of 0.3 s on at most 8 threads need over 2 s: more than the window.
    events = emit_at(tenant_a, T0, n=60)
    with in_tenant(tenant_a):
        first = delivery_send_due(now=T0)
        assert first.claimed == 60 and first.released > 0 and first.recorded + first.released == 60
        back = Delivery.objects.filter(attempt_count=0)
        assert back.count() == first.released
        assert all(d.leased_until is None and d.sent_seq < d.claim_seq and d.status == "pending" for d in back)
        while delivery_send_due(now=T0).claimed:
            pass
        assert Delivery.objects.filter(status="succeeded", attempt_count=1).count() == 60
        assert not DeliveryAttempt.objects.filter(outcome="lost").exists()
    assert sorted(r.msg_id for r in receiver.requests) == sorted(e.public_id for e in events)


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
    emit_at(tenant_a, T0)
    with in_tenant(tenant_a):
        attempts = {a.url.rsplit("/", 1)[1]: a for a in run_due(T0)}
    assert attempts["hooks"].status_code == 302 and attempts["hooks"].outcome == "failed"
    assert attempts["slow"].status_code is None and attempts["slow"].error.startswith("timeout")
    assert 900 <= attempts["slow"].duration_ms < 1900
    assert "/elsewhere" not in [r.path for r in receiver.requests]
