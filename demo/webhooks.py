"""Demo data for the webhooks pages: an endpoint on a loopback port nobody
listens on, subscribed to hold events, so its deliveries fail. The events
are real (a hold made and voided through the ledger's services) and every
attempt goes through the real dispatcher (delivery_send_due), which records
the refused connection; the clock it is handed moves to each retry's due
time so the demo has a few failed attempts at once instead of over hours."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from core.actors import Actor
from ledger.services.boundary import request_hash
from ledger.services.holds import hold_create, hold_release
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.sending import delivery_send_due
from webhooks.services.endpoints import endpoint_create

DEMO_ACTOR = Actor.system("demo_seed")
# Port 9 (discard) on loopback: nothing listens there on a development box.
FAILING_URL = "http://127.0.0.1:9/zentra-demo-webhooks"
ATTEMPTS = 3
HOLD = {"key": "demo_hold_webhook_1", "account": "customer_balance", "destination": "reserved_balance",
        "amount_minor": 5_000, "external_reference": "pi_demo_3", "description": "Authorization for pi_demo_3 (voided)"}


def webhooks_demo_seed(*, tenant: str) -> dict[str, int]:
    """Idempotent: the endpoint is made once (found again by its URL), the
    hold by its key; attempts are only made while fewer than ATTEMPTS exist."""
    if not settings.WEBHOOKS_ALLOW_LOOPBACK:
        return {"endpoints": 0, "attempts": 0}
    endpoint = WebhookEndpoint.objects.filter(url=FAILING_URL).first()
    if endpoint is None:
        endpoint = endpoint_create(url=FAILING_URL, event_types=["ledger.hold.*"], actor=DEMO_ACTOR,
                                   description="Demo receiver that is down (loopback port 9)").endpoint
        spec = HOLD
        out = hold_create(actor=DEMO_ACTOR, tenant=tenant, idempotency_key=spec["key"],
                          req_hash=request_hash(operation="demo_seed.hold", payload=spec), account=spec["account"],
                          destination=spec["destination"], amount_minor=spec["amount_minor"], currency="USD",
                          external_reference=spec["external_reference"], description=spec["description"])
        hold_release(actor=DEMO_ACTOR, tenant=tenant, hold_id=out.body["id"], idempotency_key="demo_void_3",
                     req_hash=request_hash(operation="demo_seed.release", payload=["demo_void_3", out.body["hold_id"]]),
                     reason="Customer cancelled the order")
    deliveries = Delivery.objects.filter(endpoint=endpoint)
    made = 0
    for _ in range(ATTEMPTS):
        if DeliveryAttempt.objects.filter(delivery__endpoint=endpoint).count() >= ATTEMPTS * deliveries.count():
            break
        due = deliveries.filter(status=Delivery.Status.PENDING).aggregate(at=Max("next_attempt_at"))["at"]
        if due is None:
            break
        report = delivery_send_due(now=max(due, timezone.now()) + dt.timedelta(seconds=1))
        made += report.recorded
    return {"endpoints": 1, "attempts": made}
