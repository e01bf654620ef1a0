"""The console's inbound page: per-provider log, entry links, replay."""
from __future__ import annotations

import re

import pytest
import stripe
from django.test import Client

from ledger.models import LedgerEntry
from providers.models import InboundDelivery, InboundStatus
from providers.services.inbound import inbound_apply
from providers.services.providers import provider_create
from tests.console.browser import browser, console_server, console_url, shot, sign_in  # noqa: F401
from tests.console.conftest import PASSWORD, make_console_tenant
from tests.providers.conftest import STRIPE_SECRET, TEST_ACTOR, payment_succeeded


def _setup(tenant_factory):
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


def test_inbound_page_shows_statuses_entry_links_and_replays_safely(tenant_factory):
    ct = _setup(tenant_factory)
    viewer = ct.client("viewer1").get("/console/inbound/?provider=stripe")
    html = viewer.content.decode()
    assert viewer.status_code == 200
    for status in ("applied", "duplicate", "rejected"):
        assert f">{status}<" in html
    with ct.schema():
        entry = LedgerEntry.objects.get(external_reference="pi_console")
        applied = InboundDelivery.objects.get(status=InboundStatus.APPLIED)
    assert f"/console/entries/{entry.posting_id}/" in html
    assert "Replay</button>" not in html  # a viewer cannot replay

    c = ct.client("operator1", csrf=True)
    page = c.get("/console/inbound/").content.decode()
    assert "Replay</button>" in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    key = re.search(rf'inbound/{applied.public_id}/replay/.*?name="form_key" value="([^"]+)"', page, re.S).group(1)
    for _ in range(2):  # a double click is one replay
        r = c.post(f"/console/inbound/{applied.public_id}/replay/",
                   {"form_key": key, "provider": "stripe", "csrfmiddlewaretoken": token})
        assert r.status_code == 302
    with ct.schema():
        assert LedgerEntry.objects.filter(external_reference="pi_console").count() == 1
        d = InboundDelivery.objects.get(pk=applied.pk)
        assert d.status == InboundStatus.APPLIED and [x["decision"] for x in d.decisions] == ["posted", "replayed"]


def test_viewer_cannot_replay_and_nothing_changes(tenant_factory):
    ct = _setup(tenant_factory)
    with ct.schema():
        applied = InboundDelivery.objects.get(status=InboundStatus.APPLIED)
    c = ct.client("viewer1")
    r = c.post(f"/console/inbound/{applied.public_id}/replay/", {"form_key": "inb_x"})
    assert r.status_code == 403
    with ct.schema():
        assert InboundDelivery.objects.get(pk=applied.pk).decisions == applied.decisions


def test_replaying_a_rejected_delivery_is_refused(tenant_factory):
    ct = _setup(tenant_factory)
    with ct.schema():
        rejected = InboundDelivery.objects.get(status=InboundStatus.REJECTED)
    c = ct.client("operator1")
    r = c.post(f"/console/inbound/{rejected.public_id}/replay/", {"form_key": "inb_rejected_1"})
    assert r.status_code == 409 and "inbound_not_replayable" in r.content.decode()


@pytest.mark.browser
def test_operator_replays_from_the_inbound_page_in_a_browser(browser, console_server, tenant_factory):
    ct = _setup(tenant_factory)
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    sign_in(page, ct, console_server.port, "operator1", PASSWORD)
    page.goto(console_url(ct, console_server.port, "/console/inbound/?provider=stripe"))
    assert page.locator("table.data tbody tr").count() == 3
    shot(page, "inbound")
    row = page.locator("table.data tbody tr", has_text="new transition under")
    with page.expect_navigation():
        row.locator("button", has_text="Replay").click()
    assert "Replayed" in page.inner_text("body") and "nothing new was posted" in page.inner_text("body")
    with ct.schema():
        assert LedgerEntry.objects.filter(external_reference="pi_console").count() == 1
