from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context

from core.actors import Actor


@contextmanager
def raw_tamper():
    """A superuser session that bypasses ordinary triggers, as an attacker
    with database access would."""
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SET session_replication_role = DEFAULT")


@pytest.fixture
def record_events():
    """record_events(tenant, n, **fields) -> ids of n committed audit events."""
    from audit.services.audit import audit_record

    def make(tenant, n: int = 1, *, action: str = "test.thing", target_type: str = "thing", target_id=None,
             actor: Actor | None = None, metadata: dict | None = None, after=None) -> list[int]:
        ids = []
        with tenant_context(tenant), transaction.atomic():
            for i in range(n):
                ev = audit_record(
                    actor=actor or Actor.system("tests"), action=action, target_type=target_type,
                    target_id=target_id if target_id is not None else i, before=None,
                    after=after if after is not None else {"i": i, "amount_minor": 125000 * (i + 1)},
                    metadata=metadata or {},
                )
                ids.append(ev.pk)
        return ids

    return make


def log_size(tenant) -> int:
    """Events already in a tenant's log: a new tenant's log begins with its
    own provisioning (tenant.created, api_key.created)."""
    from audit.models import AuditEvent

    with tenant_context(tenant):
        return AuditEvent.objects.count()


def sealed_start(tenant) -> int:
    """Seal what a new tenant's log already holds -- its own provisioning
    (tenant.created, api_key.created) -- and return the chain's head seq, so a
    test counts its own links from there."""
    from audit.services.chain import chain_seal

    with tenant_context(tenant):
        return chain_seal().head_seq or 0


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


def pending(unsealed: dict) -> dict:
    """The non-zero unsealed counts: other apps register record types too
    (the ledger's entries), which are present with a count of 0 here."""
    assert "audit_event" in unsealed
    return {k: v for k, v in unsealed.items() if v}
