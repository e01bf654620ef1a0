"""Bad input: a clear 4xx problem+json with a stable code, nothing written."""
import pytest
from django.db import transaction

from audit.models import AuditEvent
from events import errors as events_errors
from webhooks import errors
from tests.webhooks.conftest import TEST_ACTOR, in_tenant
from webhooks.models import Delivery, WebhookEndpoint
from events.models import Event
from events.services import event_emit


def _counts(tenant):
    with in_tenant(tenant):
        return (WebhookEndpoint.objects.count(), AuditEvent.objects.count(), Event.objects.count(),
                Delivery.objects.count())


def _assert_problem(resp, status, code):
    assert resp.status_code == status, resp.content
    assert resp["Content-Type"].startswith("application/problem+json")
    assert resp.json()["code"] == code


@pytest.mark.parametrize("url,code", [
    ("ftp://example.com/hook", "webhook_url_invalid"),
    ("file:///etc/passwd", "webhook_url_invalid"),
    ("not a url", "webhook_url_invalid"),
    ("https://user:pass@example.com/", "webhook_url_invalid"),
    ("http://10.1.2.3/hook", "webhook_url_forbidden"),
    ("http://192.168.0.10:8080/hook", "webhook_url_forbidden"),
    ("http://169.254.169.254/latest/meta-data/", "webhook_url_forbidden"),
    ("http://100.64.0.7/", "webhook_url_forbidden"),
    ("http://0.0.0.0:8000/", "webhook_url_forbidden"),
    ("http://[fe80::1]/", "webhook_url_forbidden"),
    ("http://224.0.0.5/", "webhook_url_forbidden"),
    ("http://no-such-host.invalid/", "webhook_url_unresolvable"),
])
def test_bad_urls_are_refused_and_nothing_is_written(tenant_a, api, url, code):
    before = _counts(tenant_a)
    resp = api.post("/v1/webhook-endpoints", {"url": url, "event_types": ["*"]}, format="json")
    _assert_problem(resp, 400, code)
    assert _counts(tenant_a) == before


def test_loopback_is_refused_when_the_setting_is_off(tenant_a, api, settings, receiver):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    for url in (receiver.url, f"http://localhost:{receiver.port}/", f"http://[::1]:{receiver.port}/"):
        _assert_problem(api.post("/v1/webhook-endpoints", {"url": url, "event_types": ["*"]}, format="json"),
                        400, "webhook_url_forbidden")
    assert _counts(tenant_a)[0] == 0


@pytest.mark.parametrize("types", [["ledger.entry.exploded"], ["leger.*"], ["*", "nope"], ["LEDGER.*"], ["ledger."]])
def test_unknown_event_types_are_refused(tenant_a, api, receiver, types):
    before = _counts(tenant_a)
    resp = api.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": types}, format="json")
    _assert_problem(resp, 400, "unknown_event_type")
    assert _counts(tenant_a) == before


@pytest.mark.parametrize("body,code", [
    ({"url": "http://127.0.0.1/", "event_types": ["*"], "secret": "whsec_mine"}, "unknown_field"),
    ({"url": "http://127.0.0.1/", "event_types": []}, "validation_error"),
    ({"url": "http://127.0.0.1/", "event_types": "*"}, "validation_error"),
    ({"url": "http://127.0.0.1/"}, "validation_error"),
    ({"url": "http://127.0.0.1/", "event_types": ["*"] * 51}, "validation_error"),
    ({"url": "http://127.0.0.1/", "event_types": ["*"], "description": "x" * 501}, "validation_error"),
    ([1, 2, 3], "validation_error"),
])
def test_malformed_bodies_are_400(tenant_a, api, body, code):
    before = _counts(tenant_a)
    _assert_problem(api.post("/v1/webhook-endpoints", body, format="json"), 400, code)
    assert _counts(tenant_a) == before


def test_oversized_request_body_is_413(tenant_a, api):
    body = {"url": "http://127.0.0.1/", "event_types": ["*"], "description": "x" * 2_000_000}
    _assert_problem(api.post("/v1/webhook-endpoints", body, format="json"), 413, "payload_too_large")
    assert _counts(tenant_a)[0] == 0


def test_oversized_event_payload_is_refused_and_the_transaction_rolls_back(tenant_a):
    with in_tenant(tenant_a):
        with pytest.raises(events_errors.EventPayloadTooLarge), transaction.atomic():
            event_emit(type="ledger.entry.created", payload={"blob": "x" * 300_000}, actor=TEST_ACTOR)
        assert Event.objects.count() == 0


def test_patch_validates_like_create_and_writes_nothing(tenant_a, api, receiver):
    ep = api.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["*"]}, format="json").json()
    before = _counts(tenant_a)
    path = f"/v1/webhook-endpoints/{ep['id']}"
    _assert_problem(api.patch(path, {"url": "gopher://x/"}, format="json"), 400, "webhook_url_invalid")
    _assert_problem(api.patch(path, {"url": "http://10.0.0.1/"}, format="json"), 400, "webhook_url_forbidden")
    _assert_problem(api.patch(path, {"event_types": ["nope.*"]}, format="json"), 400, "unknown_event_type")
    _assert_problem(api.patch(path, {"enabled": False, "url": receiver.url}, format="json"), 400, "unknown_field")
    _assert_problem(api.post(f"{path}/disable", {"why": "x"}, format="json"), 400, "unknown_field")
    assert _counts(tenant_a) == before
    assert api.get(path).json()["url"] == receiver.url


def test_unknown_ids_are_404(api):
    for path in ("/v1/webhook-endpoints/ep_nope", "/v1/webhook-deliveries/dlv_nope", "/v1/events/evt_nope",
                 "/v1/webhook-deliveries/dlv_nope/attempts"):
        _assert_problem(api.get(path), 404, "not_found")
    _assert_problem(api.post("/v1/webhook-deliveries/dlv_nope/replay", format="json"), 404, "not_found")
    _assert_problem(api.post("/v1/webhook-endpoints/ep_nope/recover", {"since": "2020-01-01T00:00:00Z"}, format="json"),
                    404, "not_found")


def test_recover_needs_a_valid_since(api, receiver):
    ep = api.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["*"]}, format="json").json()
    path = f"/v1/webhook-endpoints/{ep['id']}/recover"
    _assert_problem(api.post(path, {}, format="json"), 400, "validation_error")
    _assert_problem(api.post(path, {"since": "last tuesday"}, format="json"), 400, "validation_error")


def test_bad_delivery_status_filter_is_400(api, receiver):
    ep = api.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["*"]}, format="json").json()
    _assert_problem(api.get(f"/v1/webhook-endpoints/{ep['id']}/deliveries?status=lost"), 400, "validation_error")
