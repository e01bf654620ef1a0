from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import json

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django_tenants.utils import tenant_context

from audit.exports import CsvDigest, csv_cell
from audit.models import AuditEvent, Export
from tests.audit.conftest import log_size, raw_tamper


def download(client, export_id: int) -> bytes:
    resp = client.get(f"/v1/exports/{export_id}/file")
    assert resp.status_code == 200, resp.content
    assert isinstance(resp, StreamingHttpResponse)
    assert resp["Content-Type"] == "text/csv; charset=utf-8"
    assert resp["Content-Disposition"].startswith('attachment; filename="zentra-')
    return b"".join(resp.streaming_content)


def create(client, filters=None, kind="audit_events"):
    body = {"kind": kind} if filters is None else {"kind": kind, "filters": filters}
    return client.post("/v1/exports", body, format="json")


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# --- cells ----------------------------------------------------------------------
@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"),
    ("+1+2", "'+1+2"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("-125000", "'-125000"),      # text that looks numeric is still text
    ("plain", "plain"),
    ("a=b", "a=b"),
    ("", ""),
    (None, ""),
    (-125000, -125000),           # numbers stay numbers, sign and all
    (2**63 - 1, 2**63 - 1),
    (True, "true"),
    (decimal.Decimal("1.50"), "1.50"),
    ({"k": "=x"}, '{"k":"=x"}'),
    (["=x"], '["=x"]'),
    (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "2026-01-02T03:04:05.000000Z"),
])
def test_csv_cell(value, cell):
    assert csv_cell(value) == cell


def test_csv_is_rfc4180_and_round_trips():
    rows = [(1, 'say "hi", then\r\nleave', -5), (2, "=cmd|' /C calc'!A0", 7)]
    digest = CsvDigest(("id", "text", "amount_minor"), rows, lambda r: r)
    data = b"".join(digest)
    assert data.startswith(b"id,text,amount_minor\r\n")
    assert b'"say ""hi"", then\r\nleave"' in data
    assert data.endswith(b"\r\n") and b",-5\r\n" in data
    assert parse(data) == [["id", "text", "amount_minor"], ["1", 'say "hi", then\r\nleave', "-5"],
                           ["2", "'=cmd|' /C calc'!A0", "7"]]
    assert digest.finished and digest.row_count == 2 and digest.byte_count == len(data)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()


# --- end to end -------------------------------------------------------------------------
def test_export_round_trip_manifest_matches_downloaded_bytes(tenant_a, api, record_events):
    base = log_size(tenant_a.tenant)
    record_events(tenant_a.tenant, 3, action="account.created", target_type="account", target_id="=1+1",
                  after={"amount_minor": -125000, "note": "@evil"})
    record_events(tenant_a.tenant, 2, action="other.thing")
    resp = create(api, {"action": "account.created"})
    assert resp.status_code == 201, resp.content
    export = resp.json()
    assert export["chain_head"]["seq"] == base + 5 and export["sha256"] is None
    assert export["filters"] == {"action": "account.created"}

    data = download(api, export["id"])
    rows = parse(data)
    assert rows[0][:3] == ["id", "occurred_at", "actor_kind"]
    assert len(rows) == 4
    target = rows[0].index("target_id")
    assert {r[target] for r in rows[1:]} == {"'=1+1"}
    assert all(r[rows[0].index("action")] == "account.created" for r in rows[1:])
    assert json.loads(rows[1][rows[0].index("after")]) == {"amount_minor": -125000, "note": "@evil"}
    assert rows[1][0] == str(int(rows[1][0]))  # the id column is a bare number

    manifest = api.get(f"/v1/exports/{export['id']}/manifest").json()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["row_count"] == 3 and manifest["byte_count"] == len(data)
    assert manifest["chain_head"] == export["chain_head"]
    assert manifest["filters"] == {"action": "account.created"}
    assert manifest["exporter"] == f"api_key:{tenant_a.api_key.api_key.prefix}"
    assert manifest["tenant"] == tenant_a.tenant.slug and manifest["generated_at"]
    assert manifest["columns"] == rows[0]


def test_manifest_first_then_download_still_matches_and_new_rows_do_not_leak_in(tenant_a, api, record_events):
    base = log_size(tenant_a.tenant)
    record_events(tenant_a.tenant, 4)
    export_id = create(api).json()["id"]
    manifest = api.get(f"/v1/exports/{export_id}/manifest").json()
    record_events(tenant_a.tenant, 3)  # after the export was pinned
    first = download(api, export_id)
    second = download(api, export_id)
    assert first == second
    assert hashlib.sha256(first).hexdigest() == manifest["sha256"]
    # The log's events and 4 seeded ones; the export's own audit event came after the pin.
    assert manifest["row_count"] == base + 4 == len(parse(first)) - 1
    with tenant_context(tenant_a.tenant):
        actions = list(AuditEvent.objects.filter(target_type="export").values_list("action", flat=True))
    assert actions.count("export.created") == 1
    assert actions.count("export.digested") == 1 and actions.count("export.downloaded") == 2


def test_every_export_is_audited(tenant_a, api, record_events):
    base = log_size(tenant_a.tenant)
    record_events(tenant_a.tenant, 1)
    export_id = create(api, {"target_type": "thing"}, kind="audit_events").json()["id"]
    with tenant_context(tenant_a.tenant):
        ev = AuditEvent.objects.get(action="export.created")
    assert ev.target_id == str(export_id) and ev.actor_ref.startswith("api_key:")
    assert ev.after["filters"] == {"target_type": "thing"} and ev.after["chain_head_seq"] == base + 1
    events = api.get("/v1/audit-events?target_type=export").json()["results"]
    assert [e["action"] for e in events] == ["export.created"]


def test_tampering_between_downloads_is_recorded(tenant_a, api, record_events):
    ids = record_events(tenant_a.tenant, 2)
    export_id = create(api).json()["id"]
    good = download(api, export_id)
    with tenant_context(tenant_a.tenant):
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("UPDATE audit_auditevent SET actor_ref = 'system:someone-else' WHERE id = %s", [ids[0]])
    bad = download(api, export_id)
    assert good != bad
    manifest = api.get(f"/v1/exports/{export_id}/manifest").json()
    assert manifest["sha256"] == hashlib.sha256(good).hexdigest()
    with tenant_context(tenant_a.tenant):
        mismatch = AuditEvent.objects.get(action="export.digest_mismatch")
    assert mismatch.metadata["sha256"] == hashlib.sha256(bad).hexdigest()


def test_export_filters_time_range(tenant_a, api, record_events):
    record_events(tenant_a.tenant, 2)
    with tenant_context(tenant_a.tenant):
        last = AuditEvent.objects.order_by("-id").first()
    resp = create(api, {"occurred_after": last.occurred_at.isoformat()})
    assert resp.status_code == 201
    assert resp.json()["filters"]["occurred_after"].endswith("Z")
    assert len(parse(download(api, resp.json()["id"]))) == 2


@pytest.mark.parametrize("body, code", [
    ({"kind": "audit_events", "filters": {"actorr": "x"}}, "unknown_filter"),
    ({"kind": "audit_events", "filters": {"occurred_after": "2026-02-01T00:00:00Z",
                                          "occurred_before": "2026-01-01T00:00:00Z"}}, "invalid_range"),
    ({"kind": "audit_events", "filters": ["action"]}, "validation_error"),
    ({"kind": "audit_events", "filters": {"occurred_after": "soon"}}, "validation_error"),
    ({"kind": "everything"}, "unknown_export_kind"),
    ({"kind": "audit_events", "format": "xlsx"}, "unknown_field"),
    ({}, "validation_error"),
])
def test_bad_export_requests(tenant_a, api, body, code):
    resp = api.post("/v1/exports", body, format="json")
    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == code
    with tenant_context(tenant_a.tenant):
        assert Export.objects.count() == 0


def test_exports_are_tenant_scoped(tenant_a, tenant_b, api, api_client, record_events):
    record_events(tenant_a.tenant, 2)
    record_events(tenant_b.tenant, 1, action="b.secret")
    export_id = create(api).json()["id"]
    client_b = api_client(tenant_b.api_key.plaintext)
    for suffix in ("", "/file", "/manifest"):
        resp = client_b.get(f"/v1/exports/{export_id}{suffix}")
        assert resp.status_code == 404 and resp.json()["code"] == "export_not_found"
    data = download(api, export_id)
    assert b"b.secret" not in data
    b_export = create(client_b).json()["id"]
    assert b"b.secret" in download(client_b, b_export)


def test_chain_disabled_exports_still_work(tenant_a, api, record_events, settings):
    base = log_size(tenant_a.tenant)
    settings.CHAIN_ENABLED = False
    record_events(tenant_a.tenant, 3)
    export = create(api).json()
    assert export["chain_head"] is None
    data = download(api, export["id"])
    manifest = api.get(f"/v1/exports/{export['id']}/manifest").json()
    assert manifest["row_count"] == base + 3 and manifest["sha256"] == hashlib.sha256(data).hexdigest()
