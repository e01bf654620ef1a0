"""Exports: pin a row set, stream it as CSV, record its digest once."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from audit.chain import GENESIS_HASH
from audit.exports import CsvDigest, export_kind_get
from audit.filters import filters_normalized, filters_parse
from audit.models import Export
from audit.selectors import chain_head, export_csv, export_manifest, export_rows
from audit.services.audit import audit_record
from audit.services.chain import chain_seal
from audit import errors
from core.context import get_correlation_id
from core.limits import tenant_limits_get

log = logging.getLogger("zentra.audit")


def export_create(*, actor: Actor, kind: str, filters: dict) -> Export:
    """Validate the filters, seal what is pending, and pin the export's rows
    to the chain head of this moment; audited like any mutation.

    The seal is its own (earlier) transaction so the chain lock is not held
    while the export row is written.
    """
    k = export_kind_get(kind)
    normalized = filters_normalized(filters_parse(k.filters, filters))
    chain_seal()
    with transaction.atomic():
        head = chain_head() if settings.CHAIN_ENABLED else None
        model = k.queryset({}).model
        max_row_id = model._default_manager.order_by("-pk").values_list("pk", flat=True).first() or 0
        export = Export(
            kind=k.name, filters=normalized, exporter=actor.ref, correlation_id=get_correlation_id(),
            chain_head_seq=(head.seq if head else 0) if settings.CHAIN_ENABLED else None,
            chain_head_hash=(head.hash if head else GENESIS_HASH) if settings.CHAIN_ENABLED else "",
            max_row_id=max_row_id,
        )
        export_size_check(count=lambda n: export_rows(export=export, kind=k)[:n].count())
        export.save(force_insert=True)
        audit_record(
            actor=actor, action="export.created", target_type="export", target_id=export.pk,
            after={"kind": export.kind, "filters": export.filters,
                   "chain_head_seq": export.chain_head_seq, "chain_head_hash": export.chain_head_hash},
        )
    return export


def export_size_check(*, count) -> None:
    """Refuse, before anything is written, an export whose pinned row set is
    larger than the tenant's `export_rows` limit (tenants/services/limits.py).
    Refused rather than truncated: a partial file that looks complete is the
    worse failure for evidence. `count(n)` counts at most n rows, so the check
    costs at most limit + 1 index probes whatever the table holds."""
    limit = tenant_limits_get(tenant=getattr(connection, "tenant", None)).export_rows
    matched = count(limit + 1)
    if matched > limit:
        raise errors.ExportTooLarge(
            f"The filters match more than {limit} rows; this tenant may export at most {limit} rows at once. "
            "Narrow the filters (occurred_after / occurred_before) and export the parts.",
            limit=limit,
        )


def export_complete(*, actor: Actor, export: Export, digest: CsvDigest, delivered: bool) -> Export:
    """Record a finished pass over an export's bytes: the first one fixes the
    manifest's digest; any later one must reproduce it, and a mismatch (the
    rows changed under an append-only table) is itself evidence."""
    if not digest.finished:
        raise RuntimeError("export_complete needs a fully iterated CsvDigest")
    with transaction.atomic():
        row = Export.objects.select_for_update().get(pk=export.pk)
        facts = {"sha256": digest.sha256, "row_count": digest.row_count, "byte_count": digest.byte_count}
        if row.sha256 is None:
            row.sha256, row.row_count, row.byte_count = digest.sha256, digest.row_count, digest.byte_count
            row.digested_at = timezone.now()
            row.save(update_fields=["sha256", "row_count", "byte_count", "digested_at"])
            action = "export.downloaded" if delivered else "export.digested"
        elif row.sha256 == digest.sha256:
            action = "export.downloaded" if delivered else "export.digested"
        elif export_kind_get(row.kind).record_type is None:
            # Holds and deliveries change state: a later pass may differ from
            # the first one without anything having been tampered with.
            action = "export.rows_changed"
        else:
            action = "export.digest_mismatch"
            log.error("export %s: bytes no longer match the manifest (%s != %s)", row.pk, digest.sha256, row.sha256)
        # Names what was downloaded and with which filters, so the audit row
        # alone answers "who took which data out".
        audit_record(
            actor=actor, action=action, target_type="export", target_id=row.pk,
            metadata={**facts, "manifest_sha256": row.sha256, "delivered": delivered, "kind": row.kind,
                      "filters": row.filters},
        )
    return row


def export_digest(*, actor: Actor, export: Export) -> Export:
    """Compute the digest without a download (the manifest was asked for
    first): the same generator a download uses, so the bytes are the same."""
    if export.sha256 is not None:
        return export
    digest = export_csv(export=export)
    with transaction.atomic():  # the rows come from a server-side cursor
        for _ in digest:
            pass
    return export_complete(actor=actor, export=export, digest=digest, delivered=False)


def export_manifest_fetch(*, actor: Actor, export: Export) -> dict:
    """The manifest as a person or client takes it away: digested first if
    no pass has run yet, and the taking itself audited."""
    export = export_digest(actor=actor, export=export)
    manifest = export_manifest(export=export)
    with transaction.atomic():
        audit_record(actor=actor, action="export.manifest_downloaded", target_type="export", target_id=export.pk,
                     metadata={"kind": export.kind, "filters": export.filters, "sha256": export.sha256})
    return manifest
