"""Test data through the real services (never hand-built ledger rows)."""
from __future__ import annotations

import uuid

from django.db import connection

from core.actors import Actor
from ledger.services.accounts import account_create
from ledger.services.boundary import request_hash
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post

TEST_ACTOR = Actor.system("tests")


def account(*, code: str | None = None, currency: str = "USD", normal_side: str = "credit", kind: str = "liability",
            policies: list[str] | None = None):
    return account_create(actor=TEST_ACTOR, code=code or f"acc_{uuid.uuid4().hex[:8]}", name=code or "Test account",
                          currency=currency, normal_side=normal_side, kind=kind, policies=policies)


def post(*, debit, credit, amount: int, currency: str = "USD", key: str | None = None):
    lines = [LineSpec(account=debit.code, side="debit", amount_minor=amount, currency=currency),
             LineSpec(account=credit.code, side="credit", amount_minor=amount, currency=currency)]
    key = key or f"k_{uuid.uuid4().hex}"
    return entry_post(actor=TEST_ACTOR, tenant=connection.tenant.slug if hasattr(connection.tenant, "slug") else "-",
                      idempotency_key=key, req_hash=request_hash(operation="test", payload=[key]), lines=lines)
