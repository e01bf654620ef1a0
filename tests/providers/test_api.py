"""Provider configuration and the inbound log through the API."""
from __future__ import annotations

from django_tenants.utils import schema_context

from audit.models import AuditEvent
from tenants.models import SCOPES
from tenants.services.api_keys import api_key_create
from tests.providers.conftest import books_make, payment_succeeded
from core.actors import Actor


def test_create_shows_a_generated_secret_once_and_never_again(tenant_a, api):
    r = api.post("/v1/providers", {"slug": "acme-pay", "kind": "generic", "mapping": {
        "event_id": "id", "event_type": "type", "rules": {"paid": {
            "action": "post", "amount": "amount", "default_currency": "USD", "debit": "a", "credit": "b"}}}},
        format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["secret"].startswith("whsec_") and body["signature_scheme"] == "standard_webhooks"
    assert body["inbound_path"] == "/v1/inbound/acme-pay"
    listed = api.get("/v1/providers").json()["results"]
    assert [p["slug"] for p in listed] == ["acme-pay"] and "secret" not in listed[0]
    assert body["secret"] not in api.get(f"/v1/providers/{body['id']}").content.decode()
    rotated = api.post(f"/v1/providers/{body['id']}/rotate-secret", {}, format="json").json()
    assert rotated["secret"] != body["secret"] and rotated["previous_secret_valid_until"]
    with schema_context(tenant_a.tenant.schema_name):
        actions = list(AuditEvent.objects.filter(target_type="provider").values_list("action", flat=True))
        assert actions == ["provider.create", "provider.rotate_secret"]
        assert body["secret"] not in str(list(AuditEvent.objects.values_list("after", flat=True)))


def test_supplied_stripe_secret_is_never_returned(api):
    r = api.post("/v1/providers", {"slug": "stripe", "kind": "stripe",
                                   "signing_secret": "whsec_from_the_stripe_dashboard"}, format="json")
    assert r.status_code == 201 and r.json()["secret"] is None
    assert "payment_intent.succeeded" in r.json()["mapping"]["rules"]
    again = api.post("/v1/providers", {"slug": "stripe", "kind": "stripe"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "provider_exists"


def test_bad_configuration_is_400(api):
    cases = [
        {"slug": "Bad Slug", "kind": "stripe"},
        {"slug": "g", "kind": "generic"},
        {"slug": "g", "kind": "generic", "mapping": {"event_id": "id", "event_type": "type", "rules": {
            "x": {"action": "explode"}}}},
        {"slug": "g", "kind": "generic", "mapping": {"event_id": "id", "event_type": "type", "rules": {
            "x": {"action": "post", "amount": "a", "debit": "same", "credit": "same", "default_currency": "USD"}}}},
        {"slug": "g", "kind": "generic", "mapping": "nope"},
        {"slug": "s", "kind": "stripe", "signing_secret": "short"},
        {"slug": "s", "kind": "stripe", "signature_scheme": "standard_webhooks", "signing_secret": "not base64 !!!!!!"},
        {"slug": "s", "kind": "stripe", "extra": 1},
    ]
    for case in cases:
        r = api.post("/v1/providers", case, format="json")
        assert r.status_code == 400, (case, r.status_code, r.content)
    assert api.get("/v1/providers").json()["results"] == []


def test_inbound_log_filters_and_replay(tenant_factory, api_client):
    books = books_make(tenant_factory)
    key = api_key_create(actor=Actor.system("tests"), tenant=books.tenant, name="t", scopes=list(SCOPES))
    api = api_client(key.plaintext)
    books.post(payment_succeeded("pi_api", 100))
    books.post(b"{not json")
    page = api.get("/v1/inbound-deliveries?provider=stripe&status=rejected").json()
    assert [d["status"] for d in page["results"]] == ["rejected"]
    received = api.get("/v1/inbound-deliveries?status=received").json()["results"]
    [d] = received if received else api.get("/v1/inbound-deliveries?status=applied").json()["results"]
    r = api.post(f"/v1/inbound-deliveries/{d['id']}/replay", format="json")
    assert r.status_code == 200 and r.json()["status"] == "applied", r.content
    r = api.post(f"/v1/inbound-deliveries/{d['id']}/replay", format="json")
    assert r.status_code == 200 and r.json()["decisions"][-1]["decision"] == "replayed"
    detail = api.get(f"/v1/inbound-deliveries/{d['id']}").json()
    assert detail["body"].startswith("{") and "stripe-signature" in detail["headers"]
    assert api.get("/v1/inbound-deliveries?status=bogus").status_code == 400
    rejected = page["results"][0]["id"]
    r = api.post(f"/v1/inbound-deliveries/{rejected}/replay", format="json")
    assert r.status_code == 409 and r.json()["code"] == "inbound_not_replayable"


def test_other_tenants_key_sees_nothing(tenant_factory, api_client):
    books = books_make(tenant_factory)
    books.post(payment_succeeded("pi_iso", 100))
    other = tenant_factory()
    api = api_client(other.api_key.plaintext)
    assert api.get("/v1/providers").json()["results"] == []
    assert api.get("/v1/inbound-deliveries").json()["results"] == []
    assert api.get(f"/v1/providers/{books.provider.public_id}").status_code == 404
    d = books.deliveries()[0]
    assert api.get(f"/v1/inbound-deliveries/{d.public_id}").status_code == 404
    assert api.post(f"/v1/inbound-deliveries/{d.public_id}/replay", format="json").status_code == 404
