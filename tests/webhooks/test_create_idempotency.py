"""Creating POSTs honour Idempotency-Key: a retry after a lost response
gets the first answer (secret included) and creates nothing."""
from __future__ import annotations

import pytest

from providers.models import Provider
from tests.webhooks.conftest import in_tenant
from webhooks.models import WebhookEndpoint

URL = ""  # the loopback receiver's, set by the fixture below

CREATES = {
    "/v1/webhook-endpoints": (WebhookEndpoint, lambda n: {"url": f"{URL}/{n}", "event_types": ["*"]}),
    "/v1/providers": (Provider, lambda n: {"slug": f"prov-{n}", "kind": "stripe"}),
}


@pytest.fixture(autouse=True)
def _receiver_url(receiver):
    global URL
    URL = receiver.url.rstrip("/")


def _count(tenant_a, model) -> int:
    with in_tenant(tenant_a):
        return model.objects.count()


@pytest.mark.parametrize("path", sorted(CREATES))
def test_a_retry_with_the_same_key_creates_once_and_replays_the_answer(tenant_a, api, path):
    model, body = CREATES[path]
    before = _count(tenant_a, model)
    first = api.post(path, body("a"), format="json", HTTP_IDEMPOTENCY_KEY="create-once-1")
    assert first.status_code == 201, first.content
    again = api.post(path, body("a"), format="json", HTTP_IDEMPOTENCY_KEY="create-once-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and first.json()["secret"]
    assert _count(tenant_a, model) == before + 1
    # The same key for another request is refused; a new key creates.
    other = api.post(path, body("b"), format="json", HTTP_IDEMPOTENCY_KEY="create-once-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert api.post(path, body("b"), format="json", HTTP_IDEMPOTENCY_KEY="create-once-2").status_code == 201
    assert _count(tenant_a, model) == before + 2


@pytest.mark.parametrize("path", sorted(CREATES))
def test_a_key_outside_the_grammar_is_400(tenant_a, api, path):
    model, body = CREATES[path]
    before = _count(tenant_a, model)
    r = api.post(path, body("c"), format="json", HTTP_IDEMPOTENCY_KEY="bad key ")
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_invalid"
    assert _count(tenant_a, model) == before
