"""Helpers shared by the back-office tests (holds, corrections, search): rows
made through the real services, and the forms' keys read from the pages."""
from __future__ import annotations

import re
import uuid

from ledger.models import Hold, LedgerEntry
from ledger.services.boundary import request_hash
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post
from ledger.services.holds import hold_create

from .conftest import SETUP


def make_hold(ct, *, amount=50_000, account="customer_balance", destination="reserved_balance", expires_at=None,
              reference="") -> Hold:
    key = f"test_hold_{uuid.uuid4().hex}"
    spec = {"account": account, "destination": destination, "amount_minor": amount, "ref": reference}
    with ct.schema():
        out = hold_create(actor=SETUP, tenant=ct.tenant.slug, idempotency_key=key,
                          req_hash=request_hash(operation="test.hold", payload=spec), account=account,
                          destination=destination, amount_minor=amount, currency="USD", expires_at=expires_at,
                          external_reference=reference, description="Card authorization")
        assert out.status == 201, out.body
        return Hold.objects.select_related("account").get(hold_id=out.body["hold_id"])


def make_entry(ct, *, amount=2500, debit="customer_balance", credit="reserved_balance", reference="") -> LedgerEntry:
    key = f"test_entry_{uuid.uuid4().hex}"
    lines = [LineSpec(account=debit, side="debit", amount_minor=amount, currency="USD"),
             LineSpec(account=credit, side="credit", amount_minor=amount, currency="USD")]
    with ct.schema():
        out = entry_post(actor=SETUP, tenant=ct.tenant.slug, idempotency_key=key,
                         req_hash=request_hash(operation="test.entry", payload=[key, amount]), lines=lines,
                         description="Order 1001", external_reference=reference)
        assert out.status == 201, out.body
        return LedgerEntry.objects.get(id=out.entry_id)


def form_key_in(html: str, form_class: str) -> str:
    """The hidden key of the form whose class list has `form_class`."""
    m = re.search(rf'<form[^>]*class="[^"]*\b{form_class}\b[^"]*"[^>]*>(.*?)</form>', html, re.S)
    assert m, f"no form .{form_class} on the page"
    key = re.search(r'name="form_key" value="([^"]+)"', m.group(1))
    assert key, f"no form_key in .{form_class}"
    return key.group(1)
