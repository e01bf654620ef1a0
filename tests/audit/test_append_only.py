"""Audit rows, chain links and recorded export digests cannot be changed,
whoever asks: the ORM, raw SQL, in any tenant (every test tenant here is
cloned from the template after the migrations ran)."""
from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django_tenants.utils import tenant_context

from audit.models import AuditEvent, ChainLink, Export
from audit.services.chain import chain_seal


def refused(fn) -> None:
    with pytest.raises(DatabaseError, match="append-only|immutable"), transaction.atomic():
        fn()


def raw(sql: str, params=()):
    def run():
        with connection.cursor() as cur:
            cur.execute(sql, params)

    return run


@pytest.fixture
def sealed_tenant(tenant_a, record_events):
    record_events(tenant_a.tenant, 3)
    with tenant_context(tenant_a.tenant):
        chain_seal()
    return tenant_a.tenant


def test_triggers_exist_in_a_tenant_created_after_the_migration(sealed_tenant):
    with connection.cursor() as cur:
        cur.execute(
            """SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND NOT t.tgisinternal ORDER BY 1, 2""",
            [sealed_tenant.schema_name],
        )
        names = {name for _, name in cur.fetchall()}
    assert {
        "audit_auditevent_no_update_delete", "audit_auditevent_no_truncate",
        "audit_chainlink_no_update_delete", "audit_chainlink_no_truncate", "audit_chainlink_append",
        "audit_export_digest_once", "audit_export_no_truncate",
    } <= names


@pytest.mark.parametrize("table", ["audit_auditevent", "audit_chainlink"])
def test_update_delete_truncate_refused_by_raw_sql(sealed_tenant, table):
    with tenant_context(sealed_tenant):
        model = AuditEvent if table == "audit_auditevent" else ChainLink
        before = model.objects.count()
        column = "action = 'x'" if table == "audit_auditevent" else "record_type = 'x'"
        refused(raw(f"UPDATE {table} SET {column}"))
        refused(raw(f"DELETE FROM {table}"))
        refused(raw(f"TRUNCATE {table}"))
        refused(raw(f"TRUNCATE {table} CASCADE"))
        refused(raw(f'DELETE FROM "{sealed_tenant.schema_name}".{table} WHERE id = (SELECT min(id) FROM {table})'))
        assert model.objects.count() == before


def test_update_delete_refused_through_the_orm(sealed_tenant):
    with tenant_context(sealed_tenant):
        links_before = ChainLink.objects.count()
        event = AuditEvent.objects.first()
        link = ChainLink.objects.first()
        event.action = "rewritten"
        refused(event.save)
        refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(action="rewritten"))
        refused(AuditEvent.objects.get(pk=event.pk).delete)
        refused(lambda: AuditEvent.objects.all().delete())
        link.hash = "0" * 64
        refused(link.save)
        refused(lambda: ChainLink.objects.update(record_id=0))
        refused(lambda: ChainLink.objects.all().delete())
        assert AuditEvent.objects.filter(action="rewritten").count() == 0
        assert ChainLink.objects.count() == links_before


def test_export_digest_is_write_once(sealed_tenant):
    with tenant_context(sealed_tenant):
        export = Export.objects.create(kind="audit_events", exporter="tests", correlation_id="c", max_row_id=3)
        refused(lambda: Export.objects.filter(pk=export.pk).update(kind="other"))
        Export.objects.filter(pk=export.pk).update(sha256="a" * 64, row_count=3, byte_count=10)
        refused(lambda: Export.objects.filter(pk=export.pk).update(sha256="b" * 64))
        refused(lambda: Export.objects.filter(pk=export.pk).update(filters={"action": "x"}))
        refused(lambda: Export.objects.filter(pk=export.pk).delete())
        refused(raw("TRUNCATE audit_export"))
        assert Export.objects.get(pk=export.pk).sha256 == "a" * 64
