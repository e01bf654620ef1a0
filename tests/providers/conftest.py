"""Inbound test kit: a tenant with the demo accounts and a Stripe provider,
and a client that signs like Stripe (with the stripe library's own helper)."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from core.actors import Actor
from demo.seed import demo_seed
from providers.models import InboundDelivery, InboundStatus
from providers.services.inbound import inbound_apply
from providers.services.providers import provider_create

TEST_ACTOR = Actor.system("tests")
STRIPE_SECRET = "whsec_test_" + "a1b2c3d4" * 4


def stripe_event(type_: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    return json.dumps({
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": type_,
        "api_version": "2024-06-20", "created": int(time.time()), "livemode": False,
        "data": {"object": obj},
    }).encode()


def payment_succeeded(pi: str, amount: int, event_id: str | None = None, **extra) -> bytes:
    return stripe_event("payment_intent.succeeded", {
        "id": pi, "object": "payment_intent", "amount": amount, "amount_received": amount, "currency": "usd",
        "metadata": extra.pop("metadata", {}), **extra}, event_id)


def charge_refunded(pi: str, amount_refunded: int, event_id: str | None = None) -> bytes:
    return stripe_event("charge.refunded", {
        "id": f"ch_{uuid.uuid4().hex[:12]}", "object": "charge", "payment_intent": pi, "amount": amount_refunded,
        "amount_refunded": amount_refunded, "currency": "usd", "refunded": True}, event_id)


def payout_paid(po: str, amount: int, event_id: str | None = None) -> bytes:
    return stripe_event("payout.paid", {"id": po, "object": "payout", "amount": amount, "currency": "usd",
                                        "status": "paid"}, event_id)


@dataclass
class Books:
    """One tenant with the demo accounts (funded customer_balance) and a
    Stripe provider at /v1/inbound/stripe."""

    tenant: Any
    host: str
    provider: Any
    secret: str

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    def post(self, body: bytes, *, secret: str | None = None, header: str | None = None, timestamp: int | None = None,
             slug: str = "stripe", host: str | None = None, client: Client | None = None, **extra):
        if header is None:
            header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret or self.secret,
                                                                       timestamp=timestamp)
        c = client or Client()
        return c.post(f"/v1/inbound/{slug}", data=body, content_type="application/json",
                      HTTP_HOST=host or self.host, HTTP_STRIPE_SIGNATURE=header, **extra)

    def deliveries(self, **filters) -> list[InboundDelivery]:
        with schema_context(self.schema):
            return list(InboundDelivery.objects.filter(**filters).select_related("entry").order_by("id"))

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with schema_context(self.schema):
                value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")


def books_make(tenant_factory, *, slug: str = "stripe", secret: str = STRIPE_SECRET, **provider_kwargs) -> Books:
    made = tenant_factory()
    tenant = made.tenant
    with schema_context(tenant.schema_name):
        demo_seed(tenant=tenant.slug)
        provider = provider_create(actor=TEST_ACTOR, slug=slug, kind="stripe", signing_secret=secret,
                                   **provider_kwargs).provider
    connection.set_schema_to_public()
    return Books(tenant=tenant, host=f"{tenant.slug}.localhost", provider=provider, secret=secret)


@pytest.fixture
def books(tenant_factory) -> Books:
    return books_make(tenant_factory)


def run_threads(n: int, fn) -> list:
    """fn(i) in n threads started together; each closes its own DB connection."""
    from django.db import connections

    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def console_books(tenant_factory):
    """A console tenant (users per role, demo ledger) with a Stripe provider
    and three deliveries of one payment: applied, duplicate, rejected."""
    from tests.console.conftest import make_console_tenant

    ct = make_console_tenant(tenant_factory)
    with ct.schema():
        provider_create(actor=TEST_ACTOR, slug="stripe", kind="stripe", signing_secret=STRIPE_SECRET)
    body = payment_succeeded("pi_console", 2_000)
    for _ in range(2):
        header = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET)
        r = Client().post("/v1/inbound/stripe", data=body, content_type="application/json", HTTP_HOST=ct.host,
                          HTTP_STRIPE_SIGNATURE=header)
        assert r.status_code == 200
    Client().post("/v1/inbound/stripe", data=body, content_type="application/json", HTTP_HOST=ct.host,
                  HTTP_STRIPE_SIGNATURE="t=1,v1=00")
    with ct.schema():
        for d in InboundDelivery.objects.filter(status=InboundStatus.RECEIVED).order_by("id"):
            inbound_apply(delivery_id=d.id)
    return ct
