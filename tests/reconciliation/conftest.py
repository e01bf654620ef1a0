"""Helpers for reconciliation tests: accounts and entries through the real
services, statements uploaded through the API, runs matched by a real worker
(or in-process where a test is about the matching itself)."""
from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

import pytest
from django.db import connection

from core.actors import Actor
from ledger.services.boundary import request_hash
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post
from tests.ledger import factories as f

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 3, 1, tzinfo=UTC)
GENERIC_HEADER = "reference,amount_minor,currency,booked_at,description"


@dataclass
class Books:
    tenant: object  # ProvisionedTenant
    settlement: object
    customers: object
    suspense: object

    def post(self, *, amount: int, reference: str = "", at: dt.datetime = T0, account=None, counter=None,
             currency: str | None = None) -> int:
        """Money arriving at the provider: debit the settlement account
        (asset), credit customer funds. A negative amount moves it out."""
        connection.set_tenant(self.tenant.tenant)
        account, counter = account or self.settlement, counter or self.customers
        debit, credit = (account, counter) if amount > 0 else (counter, account)
        key = f"k_{uuid.uuid4().hex}"
        cur = currency or account.currency
        out = entry_post(
            actor=Actor.system("tests"), tenant=self.tenant.tenant.slug, idempotency_key=key,
            req_hash=request_hash(operation="test", payload=[key]),
            lines=[LineSpec(account=debit.code, side="debit", amount_minor=abs(amount), currency=cur),
                   LineSpec(account=credit.code, side="credit", amount_minor=abs(amount), currency=cur)],
            external_reference=reference, effective_at=at)
        assert out.status == 201, out.body
        return out.entry_id


def make_books(provisioned, currency: str = "USD") -> Books:
    connection.set_tenant(provisioned.tenant)
    suffix = currency.lower()
    return Books(
        tenant=provisioned,
        settlement=f.account(code=f"stripe_{suffix}", currency=currency, normal_side="debit", kind="asset"),
        customers=f.account(code=f"customer_funds_{suffix}", currency=currency, normal_side="credit", kind="liability"),
        suspense=f.account(code=f"recon_suspense_{suffix}", currency=currency, normal_side="debit", kind="expense"),
    )


@pytest.fixture
def books(tenant_a):
    b = make_books(tenant_a)
    yield b
    connection.set_schema_to_public()


def csv_text(rows: list[tuple], header: str = GENERIC_HEADER) -> str:
    def cell(v):
        if isinstance(v, dt.datetime):
            return v.isoformat().replace("+00:00", "Z")
        s = str(v)
        return f'"{s}"' if ("," in s or '"' in s) else s
    return "\n".join([header] + [",".join(cell(v) for v in row) for row in rows]) + "\n"


def upload(client, content: str | bytes, *, account: str = "stripe_usd", fmt: str = "generic_csv",
           name: str = "statement.csv", **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    raw = content.encode() if isinstance(content, str) else content
    data = {"file": SimpleUploadedFile(name, raw, content_type="text/csv"), "format": fmt, "account": account}
    data.update({k: str(v) for k, v in fields.items()})
    return client.post("/v1/reconciliations", data, format="multipart")


def wait_done(client, run_id: int, timeout: float = 90) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = client.get(f"/v1/reconciliations/{run_id}").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"reconciliation {run_id} did not finish: {body}")


def all_items(client, run_id: int, **filters) -> list[dict]:
    out, url = [], f"/v1/reconciliations/{run_id}/items"
    params = dict(filters, limit=500)
    while url:
        r = client.get(url, params)
        assert r.status_code == 200, r.content
        body = r.json()
        out.extend(body["results"])
        url, params = body["next"], {}
    return out
