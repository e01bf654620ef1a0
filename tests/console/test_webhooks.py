"""Webhook endpoints and deliveries in the console (Django test client): roles,
the one-time secret, audited actions, double submits, resend failed since T,
the overview's failing tile, deliveries on the evidence page, and the support
admin's safe actions."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from console.models import FormSubmission
from ledger.models import LedgerEntry
from tests.webhooks.conftest import emit, make_endpoint, receiver  # noqa: F401
from users.models import Role, User
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.sending import delivery_send_due
from core.signing import secret_decrypt

from .conftest import PASSWORD, form_value
from .test_admin import admin_login

ACTIONS_ROLES = ("viewer1", "approver1", "compliance1")  # no "webhooks" capability


@pytest.fixture
def hooked(console_tenant, receiver, settings):  # noqa: F811
    """An endpoint on a loopback receiver that answers 500, one event, one
    failed attempt (sent by the dispatcher in this process)."""
    settings.WEBHOOKS_KICK_ON_COMMIT = False
    receiver.respond = lambda req: (500, b"receiver down", {})
    created = make_endpoint(console_tenant.provisioned, url=receiver.url, event_types=["ledger.*"])
    emit(console_tenant.provisioned, type="ledger.entry.created", payload={"id": 1, "note": "hello"})
    with console_tenant.schema():
        delivery_send_due()
        delivery = Delivery.objects.get(endpoint=created.endpoint)
    assert delivery.attempt_count == 1 and delivery.status == "pending"
    return created.endpoint, delivery


def _dead_letter(ct, delivery, *, at=None):
    with ct.schema():
        Delivery.objects.filter(pk=delivery.pk).update(status="failed", failed_at=at or timezone.now(),
                                                       next_attempt_at=None)


def test_pages_and_roles(console_tenant, hooked):
    endpoint, delivery = hooked
    pages = [f"/console/webhooks/{endpoint.public_id}/", f"/console/deliveries/{delivery.public_id}/",
             f"/console/deliveries/?status=failing&endpoint={endpoint.public_id}", "/console/webhooks/"]
    for username in ("viewer1", "operator1", "admin1"):
        c = console_tenant.client(username)
        for path in pages:
            r = c.get(path)
            assert r.status_code == 200, (username, path)
            assert delivery.public_id in r.content.decode() or path == "/console/webhooks/"
        manage = username != "viewer1"
        page = c.get(f"/console/webhooks/{endpoint.public_id}/").content.decode()
        assert ("Rotate secret" in page) is manage and ("Resend now" in c.get(pages[1]).content.decode()) is manage
    listing = console_tenant.client("viewer1").get("/console/webhooks/").content.decode()
    assert endpoint.public_id[-8:] in listing and "failing" in listing and secret_free(listing)
    # An unknown id is a styled 404, not a 500.
    r = console_tenant.client("viewer1").get("/console/deliveries/dlv_nope/")
    assert r.status_code == 404 and "not_found" in r.content.decode()


def secret_free(html: str) -> bool:
    return "whsec_" not in html


def test_every_action_refused_without_the_capability(console_tenant, hooked):
    """Refused actions write nothing; signing in is audited (auth.*), so it is not counted."""
    endpoint, delivery = hooked
    posts = [
        ("/console/webhooks/new/", {"url": "http://127.0.0.1:1/x", "event_types": "*"}),
        (f"/console/webhooks/{endpoint.public_id}/action/", {"action": "disable"}),
        (f"/console/webhooks/{endpoint.public_id}/action/", {"action": "rotate"}),
        (f"/console/webhooks/{endpoint.public_id}/action/", {"action": "recover", "since": "2020-01-01T00:00"}),
        (f"/console/deliveries/{delivery.public_id}/resend/", {}),
        ("/console/deliveries/resend-failed/", {"since": "2020-01-01T00:00", "expected": "1"}),
    ]
    with console_tenant.schema():
        audit_before = AuditEvent.objects.exclude(action__startswith="auth.").count()
    for username in ACTIONS_ROLES:
        c = console_tenant.client(username)
        for i, (path, data) in enumerate(posts):
            r = c.post(path, {**data, "form_key": f"whk_{username}_{i}_0123456789abcdef"})
            assert r.status_code == 403, (username, path)
            assert "permission_denied" in r.content.decode() and "Nothing was changed" in r.content.decode()
        assert c.get("/console/webhooks/new/").status_code == 403
        assert c.get("/console/deliveries/resend-failed/").status_code == 403
    with console_tenant.schema():
        assert AuditEvent.objects.exclude(action__startswith="auth.").count() == audit_before
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled
        assert WebhookEndpoint.objects.count() == 1 and FormSubmission.objects.count() == 0


def test_create_shows_the_secret_once_and_a_double_submit_creates_one(console_tenant, receiver):  # noqa: F811
    c = console_tenant.client("operator1")
    page = c.get("/console/webhooks/new/").content.decode()
    key = form_value(page, "form_key")
    data = {"form_key": key, "url": receiver.url, "event_types": "ledger.*, account.frozen", "description": "books"}
    first = c.post("/console/webhooks/new/", data)
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    secret = re.search(r'id="secret">(whsec_[^<]+)<', first.content.decode()).group(1)
    second = c.post("/console/webhooks/new/", data, follow=True)
    body = second.content.decode()
    assert "already submitted" in body and secret_free(body)
    with console_tenant.schema():
        (endpoint,) = WebhookEndpoint.objects.all()
        assert secret_decrypt(endpoint.secret_encrypted) == secret
        assert endpoint.event_types == ["account.frozen", "ledger.*"] and endpoint.description == "books"
        assert secret not in str(FormSubmission.objects.get(key=key).result)
        audit = AuditEvent.objects.get(action="webhook_endpoint.create", target_id=endpoint.public_id)
        assert audit.actor_ref.endswith(":operator1") and secret not in str(audit.after)
    detail = c.get(f"/console/webhooks/{endpoint.public_id}/").content.decode()
    assert secret_free(detail) and "books" in detail


def test_create_refuses_bad_input_with_a_clear_code(console_tenant):
    c = console_tenant.client("operator1")
    cases = [({"url": "http://127.0.0.1:9/x", "event_types": "leger.*"}, 400, "unknown_event_type"),
             ({"url": "ftp://example.com/x", "event_types": "*"}, 400, "webhook_url_invalid"),
             ({"url": "http://127.0.0.1:9/x", "event_types": " , "}, 400, "Name at least one event type")]
    for i, (data, status, text) in enumerate(cases):
        r = c.post("/console/webhooks/new/", {**data, "form_key": f"whe_{i}_0123456789abcdef0123"})
        assert r.status_code == status and text in r.content.decode(), (data, r.status_code)
    with console_tenant.schema():
        assert not WebhookEndpoint.objects.exists()


def test_disable_enable_rotate_recover_are_audited_and_idempotent(console_tenant, hooked):
    endpoint, delivery = hooked
    c = console_tenant.client("operator1")
    path = f"/console/webhooks/{endpoint.public_id}/action/"

    for _ in range(2):  # the same form twice: acts once
        r = c.post(path, {"form_key": "wha_disable_0123456789abcdef", "action": "disable"}, follow=True)
        assert r.status_code == 200
    assert "already submitted" in r.content.decode() and 'id="ep-state">disabled' in r.content.decode()
    r = c.post(f"/console/deliveries/{delivery.public_id}/resend/", {"form_key": "whr_0123456789abcdef0123"})
    assert r.status_code == 409 and "webhook_endpoint_disabled" in r.content.decode()
    assert c.post(path, {"form_key": "wha_enable_0123456789abcdef", "action": "enable"}).status_code == 302

    with console_tenant.schema():
        old_secret = secret_decrypt(WebhookEndpoint.objects.get(pk=endpoint.pk).secret_encrypted)
    rotated = c.post(path, {"form_key": "wha_rotate_0123456789abcdef", "action": "rotate"})
    new_secret = re.search(r'id="secret">(whsec_[^<]+)<', rotated.content.decode()).group(1)
    again = c.post(path, {"form_key": "wha_rotate_0123456789abcdef", "action": "rotate"}, follow=True)
    assert new_secret != old_secret and secret_free(again.content.decode())

    _dead_letter(console_tenant, delivery)
    since = (timezone.now() - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    r = c.post(path, {"form_key": "wha_recover_0123456789abcdef", "action": "recover", "since": since}, follow=True)
    assert "1 failed delivery since" in r.content.decode()
    bad = c.post(path, {"form_key": "wha_recover2_0123456789abcde", "action": "recover"})
    assert bad.status_code == 400 and "outage began" in bad.content.decode()

    with console_tenant.schema():
        ep = WebhookEndpoint.objects.get(pk=endpoint.pk)
        assert ep.enabled and secret_decrypt(ep.secret_encrypted) == new_secret
        d = Delivery.objects.get(pk=delivery.pk)
        assert d.status == "pending" and d.next_trigger == "manual" and d.final_after_next
        actions = list(AuditEvent.objects.filter(target_id=endpoint.public_id).order_by("id")
                       .values_list("action", flat=True))
        assert actions == ["webhook_endpoint.create", "webhook_endpoint.disable", "webhook_endpoint.enable",
                           "webhook_endpoint.rotate_secret", "webhook_endpoint.recover"]
        dumped = str(list(AuditEvent.objects.values())) + str(list(FormSubmission.objects.values()))
        assert new_secret not in dumped and old_secret not in dumped


def test_delivery_detail_lists_attempts_and_resend_acts_once(console_tenant, hooked):
    endpoint, delivery = hooked
    c = console_tenant.client("operator1")
    page = c.get(f"/console/deliveries/{delivery.public_id}/").content.decode()
    assert 'data-attempt="1"' in page and "receiver down" in page and ">500<" in page
    key = form_value(page, "form_key")
    for _ in range(2):
        r = c.post(f"/console/deliveries/{delivery.public_id}/resend/", {"form_key": key})
        assert r.status_code == 302
    with console_tenant.schema():
        assert AuditEvent.objects.filter(action="webhook_delivery.replay", target_id=delivery.public_id).count() == 1
        d = Delivery.objects.get(pk=delivery.pk)
        assert d.next_trigger == "manual" and d.next_attempt_at <= timezone.now()


def test_resend_failed_since_confirms_the_count_then_queues_them(console_tenant, hooked, receiver):  # noqa: F811
    endpoint, delivery = hooked
    emit(console_tenant.provisioned, n=2, type="ledger.hold.created")
    with console_tenant.schema():
        Delivery.objects.update(status="failed", failed_at=timezone.now(), next_attempt_at=None)
        old = Delivery.objects.exclude(pk=delivery.pk).order_by("id").first()
        Delivery.objects.filter(pk=old.pk).update(failed_at=timezone.now() - dt.timedelta(days=2))
    c = console_tenant.client("operator1")
    since = (timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    confirm = c.get("/console/deliveries/resend-failed/", {"since": since}).content.decode()
    assert "2 deliveries will be sent again" in confirm
    typed = c.get("/console/deliveries/resend-failed/", {"since": since, "type": "ledger.hold.*"}).content.decode()
    assert "1 delivery will be sent again" in typed
    key = form_value(confirm, "form_key")
    data = {"form_key": key, "since": form_value(confirm, "since"), "type": "", "endpoint": "", "expected": "2"}
    first = c.post("/console/deliveries/resend-failed/", data, follow=True)
    assert "2 failed deliveries since" in first.content.decode()
    second = c.post("/console/deliveries/resend-failed/", data, follow=True)
    assert "already submitted" in second.content.decode()
    with console_tenant.schema():
        assert Delivery.objects.filter(status="pending", next_trigger="manual").count() == 2
        assert Delivery.objects.get(pk=old.pk).status == "failed"  # failed before T
        ev = AuditEvent.objects.get(action="webhook_delivery.resend_failed")
        assert ev.metadata["deliveries_queued"] == 2 and ev.actor_ref.endswith(":operator1")
    r = c.get("/console/deliveries/resend-failed/", {"since": "not a time"})
    assert r.status_code == 400


def test_overview_counts_failing_deliveries_and_endpoints(console_tenant, hooked):
    endpoint, delivery = hooked
    page = console_tenant.client("viewer1").get("/console/").content.decode()
    tile = page[page.index('id="failing-webhooks"'):]
    tile = tile[:tile.index("</a>")]
    assert "/console/deliveries/?status=failing" in tile
    assert re.search(r'tile-value">1<', tile) and "1 endpoint failing now" in tile
    listing = console_tenant.client("viewer1").get("/console/deliveries/?status=failing").content.decode()
    assert delivery.public_id in listing
    assert delivery.public_id not in console_tenant.client("viewer1").get(
        "/console/deliveries/?status=succeeded").content.decode()


def test_evidence_lists_deliveries_with_their_latest_attempt(console_tenant, receiver, settings):  # noqa: F811
    settings.WEBHOOKS_KICK_ON_COMMIT = False
    receiver.respond = lambda req: (503, b"busy", {})
    make_endpoint(console_tenant.provisioned, url=receiver.url, event_types=["ledger.entry.created"])
    c = console_tenant.client("operator1")
    page = c.get("/console/new-entry/").content.decode()
    key = form_value(page, "idempotency_key")
    r = c.post("/console/new-entry/", {"debit": "customer_balance", "credit": "reserved_balance", "amount_minor": "700",
                                       "description": "hook", "external_reference": "", "source_event": "",
                                       "idempotency_key": key})
    assert r.status_code == 302
    with console_tenant.schema():
        delivery_send_due()
        entry = LedgerEntry.objects.get(idempotency_key=key)
        delivery = Delivery.objects.get(event__payload__idempotency_key=key)
        assert DeliveryAttempt.objects.get(delivery=delivery).status_code == 503
    ev = c.get(f"/console/entries/{entry.posting_id}/").content.decode()
    section = ev[ev.index('id="evidence-deliveries"'):]
    assert f"/console/deliveries/{delivery.public_id}/" in section and "HTTP 503" in section and "failed" in section


# --- support admin -------------------------------------------------------------------
def test_admin_replays_and_disables_through_the_services(console_tenant, hooked):
    endpoint, delivery = hooked
    c = Client(HTTP_HOST=console_tenant.host)
    assert admin_login(c, "admin1").status_code == 302
    index = c.get("/admin/").content.decode()
    assert "Webhook endpoints" in index and "Deliveries" in index
    listing = c.get("/admin/webhooks/webhookendpoint/").content.decode()
    shown = c.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert "disable_endpoints" in listing and endpoint.url in shown
    assert endpoint.secret_encrypted not in shown and "secret_encrypted" not in shown and "whsec_" not in shown
    detail = c.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()
    assert "receiver down" in detail and 'name="_save"' not in detail
    r = c.post("/admin/webhooks/delivery/", {"action": "replay_deliveries", "_selected_action": [delivery.pk]})
    assert r.status_code == 302
    r = c.post("/admin/webhooks/webhookendpoint/", {"action": "disable_endpoints", "_selected_action": [endpoint.pk]})
    assert r.status_code == 302
    admin1 = console_tenant.users["admin1"]
    with console_tenant.schema():
        replay = AuditEvent.objects.get(action="webhook_delivery.replay", target_id=delivery.public_id)
        disable = AuditEvent.objects.get(action="webhook_endpoint.disable", target_id=endpoint.public_id)
        assert replay.actor_ref == disable.actor_ref == f"user:{admin1.pk}:admin1"
        assert Delivery.objects.get(pk=delivery.pk).next_trigger == "manual"
        ep = WebhookEndpoint.objects.get(pk=endpoint.pk)
        assert not ep.enabled and ep.disabled_reason == "manual"
    # Money and evidence stay read-only.
    assert c.get("/admin/webhooks/delivery/add/").status_code == 403
    assert c.get(f"/admin/webhooks/delivery/{delivery.pk}/delete/").status_code == 403
    assert c.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/", {"url": "http://x"}).status_code == 403


def test_admin_actions_refused_for_a_staff_viewer_and_non_staff(console_tenant, hooked):
    endpoint, delivery = hooked
    with console_tenant.schema():
        User.objects.create_user(username="staffviewer", password=PASSWORD, role=Role.VIEWER, is_staff=True)
        audit_before = AuditEvent.objects.exclude(action__startswith="auth.").count()
    c = Client(HTTP_HOST=console_tenant.host)
    assert admin_login(c, "staffviewer").status_code == 302
    listing = c.get("/admin/webhooks/delivery/")
    assert listing.status_code == 200 and "replay_deliveries" not in listing.content.decode()
    r = c.post("/admin/webhooks/delivery/", {"action": "replay_deliveries", "_selected_action": [delivery.pk]})
    r2 = c.post("/admin/webhooks/webhookendpoint/", {"action": "disable_endpoints", "_selected_action": [endpoint.pk]})
    assert r.status_code == r2.status_code == 200  # the admin answers "no action selected"; nothing ran
    operator = Client(HTTP_HOST=console_tenant.host)
    admin_login(operator, "operator1")
    r3 = operator.post("/admin/webhooks/delivery/", {"action": "replay_deliveries", "_selected_action": [delivery.pk]})
    assert r3.status_code == 302 and "/admin/login/" in r3["Location"]
    with console_tenant.schema():
        assert AuditEvent.objects.exclude(action__startswith="auth.").count() == audit_before
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled
        assert Delivery.objects.get(pk=delivery.pk).next_trigger == "scheduled"
