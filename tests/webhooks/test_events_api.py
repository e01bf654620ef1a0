"""GET /v1/events: the pull side of the outbox."""
from datetime import timedelta
from urllib.parse import quote

from django.utils import timezone

from tests.webhooks.conftest import emit
from core.actors import Actor


def test_events_are_listed_newest_first_with_every_field(tenant_a, api):
    before = timezone.now()
    emit(tenant_a, n=2, payload={"entry_id": "ent_1", "amount_minor": 125000})
    resp = api.get("/v1/events", HTTP_X_CORRELATION_ID="cid-test-1")
    assert resp.status_code == 200
    rows = resp.json()["results"]
    assert len(rows) == 2 and rows[0]["id"] > "" and rows[0]["id"].startswith("evt_")
    first = rows[0]
    assert set(first) == {"id", "type", "tenant", "correlation_id", "created_at", "payload"}
    assert first["type"] == "ledger.entry.created" and first["tenant"] == tenant_a.tenant.slug
    assert first["payload"] == {"entry_id": "ent_1", "amount_minor": 125000}
    assert first["correlation_id"]
    assert timezone.datetime.fromisoformat(first["created_at"].replace("Z", "+00:00")) >= before
    one = api.get(f"/v1/events/{first['id']}").json()
    assert one == first


def test_filter_by_type_and_created_at_range(tenant_a, api):
    emit(tenant_a, n=2, type="ledger.entry.created")
    emit(tenant_a, n=1, type="ledger.hold.created")
    emit(tenant_a, n=1, type="account.created")
    assert len(api.get("/v1/events?type=ledger.entry.created").json()["results"]) == 2
    assert len(api.get("/v1/events?type=ledger.*").json()["results"]) == 3
    assert len(api.get("/v1/events?type=ledger.hold.*,account.created").json()["results"]) == 2

    now = timezone.now()
    future = quote((now + timedelta(hours=1)).isoformat())
    past = quote((now - timedelta(hours=1)).isoformat())
    assert len(api.get(f"/v1/events?created_after={future}").json()["results"]) == 0
    assert len(api.get(f"/v1/events?created_after={past}&created_before={future}").json()["results"]) == 4
    assert len(api.get(f"/v1/events?created_before={past}").json()["results"]) == 0


def test_cursor_pages_walk_every_event_once(tenant_a, api):
    emit(tenant_a, n=7)
    seen, url = [], "/v1/events?limit=3"
    while url:
        page = api.get(url).json()
        seen += [e["id"] for e in page["results"]]
        url = page["next"]
    assert len(seen) == 7 and len(set(seen)) == 7


def test_bad_filters_are_400(api):
    for query in ("type=Ledger!", "created_after=yesterday", "limit=0", "limit=500", "colour=red",
                  "created_after=2030-01-02T00:00:00Z&created_before=2030-01-01T00:00:00Z"):
        resp = api.get(f"/v1/events?{query}")
        assert resp.status_code == 400, (query, resp.json())
        assert resp["Content-Type"].startswith("application/problem+json")


def test_events_need_ledger_read(tenant_a, api_client):
    from tenants.services.api_keys import api_key_create

    key = api_key_create(actor=Actor.system("tests"), tenant=tenant_a.tenant, name="hooks", scopes=["webhooks:manage"]).plaintext
    assert api_client(key).get("/v1/events").status_code == 403
    assert api_client().get("/v1/events").status_code == 401
