"""Reads of the audit app: compliance browsing, chain checks, export rows."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from audit.chain import GENESIS_HASH, Sealable, link_hash, record_content_hash, sealable, sealables
from audit.exports import CsvDigest, ExportKind, export_kind_get
from audit.filters import filters_parse
from audit.models import AuditEvent, ChainLink, Export
from audit import errors


# --- chain ------------------------------------------------------------------
@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str

    def as_dict(self) -> dict:
        return {"seq": self.seq, "hash": self.hash}


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    record_type: str
    record_id: int | None
    reason: str  # seq_gap | prev_hash_mismatch | link_hash_mismatch | unknown_record_type | record_missing | content_changed
    expected: Any
    actual: Any

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"link seq {self.seq} ({self.record_type} {self.record_id}): {self.reason}; "
                f"expected {self.expected}, actual {self.actual}")


@dataclass
class ChainReport:
    ok: bool
    links_checked: int
    head: ChainHead | None
    first_broken: BrokenLink | None
    # Records that exist but have no link yet: committed after the last seal
    # (or the sealer is off). Not a break: verify reports them separately.
    unsealed: dict[str, int] = field(default_factory=dict)
    sealed_now: int = 0
    chain_enabled: bool = True

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "links_checked": self.links_checked,
            "head": self.head.as_dict() if self.head else None,
            "first_broken": self.first_broken.as_dict() if self.first_broken else None,
            "unsealed": self.unsealed,
            "unsealed_total": sum(self.unsealed.values()),
            "sealed_now": self.sealed_now,
            "chain_enabled": self.chain_enabled,
        }


def chain_head() -> ChainHead | None:
    row = ChainLink.objects.order_by("-seq").values_list("seq", "hash").first()
    return ChainHead(*row) if row else None


def unsealed_records(s: Sealable) -> QuerySet:
    """Determined by the absence of a link, never by a high-water mark: ids
    and timestamps commit out of order, so a record older than the head can
    still arrive."""
    linked = ChainLink.objects.filter(record_type=s.record_type, record_id=OuterRef("pk"))
    return s.records().filter(~Exists(linked))


def chain_unsealed_counts() -> dict[str, int]:
    return {s.record_type: unsealed_records(s).count() for s in sealables()}


def _check_link(link: tuple, expected_seq: int, prev_hash: str, records: dict[str, dict]) -> BrokenLink | None:
    seq, record_type, record_id, content_hash, link_prev, link_hash_stored = link

    def broken(reason: str, expected: Any, actual: Any) -> BrokenLink:
        return BrokenLink(seq=seq, record_type=record_type, record_id=record_id, reason=reason,
                          expected=expected, actual=actual)

    if seq != expected_seq:
        return broken("seq_gap", expected_seq, seq)
    if link_prev != prev_hash:
        return broken("prev_hash_mismatch", prev_hash, link_prev)
    recomputed = link_hash(link_prev, content_hash, seq)
    if recomputed != link_hash_stored:
        return broken("link_hash_mismatch", recomputed, link_hash_stored)
    s = sealable(record_type)
    if s is None:
        return broken("unknown_record_type", "a registered record type", record_type)
    obj = records[record_type].get(record_id)
    if obj is None:
        return broken("record_missing", content_hash, None)
    actual = record_content_hash(s, obj)
    if actual != content_hash:
        return broken("content_changed", content_hash, actual)
    return None


def chain_check(*, chunk_size: int = 2000) -> ChainReport:
    """Recompute every link of the current tenant's chain from the records'
    current rows, in one snapshot, and stop at the first broken link."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cur:
                # One snapshot for links, records and the unsealed count.
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        head = chain_head()
        links = (ChainLink.objects.filter(seq__lte=head.seq if head else 0).order_by("seq")
                 .values_list("seq", "record_type", "record_id", "content_hash", "prev_hash", "hash")
                 .iterator(chunk_size=chunk_size))
        expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
        while batch := list(islice(links, chunk_size)):
            ids: dict[str, list[int]] = defaultdict(list)
            for link in batch:
                ids[link[1]].append(link[2])
            records = {
                rtype: (s.records().in_bulk(rids) if (s := sealable(rtype)) else {}) for rtype, rids in ids.items()
            }
            for link in batch:
                checked += 1
                bad = _check_link(link, expected_seq, prev_hash, records)
                if bad is not None:
                    return ChainReport(ok=False, links_checked=checked, head=head, first_broken=bad,
                                       unsealed=chain_unsealed_counts(), chain_enabled=settings.CHAIN_ENABLED)
                expected_seq, prev_hash = link[0] + 1, link[5]
        return ChainReport(ok=True, links_checked=checked, head=head, first_broken=None,
                           unsealed=chain_unsealed_counts(), chain_enabled=settings.CHAIN_ENABLED)


# --- audit events -------------------------------------------------------------
def audit_events_filter(*, filters: dict) -> QuerySet:
    qs = AuditEvent.objects.all()
    if (v := filters.get("occurred_after")) is not None:
        qs = qs.filter(occurred_at__gte=v)
    if (v := filters.get("occurred_before")) is not None:
        qs = qs.filter(occurred_at__lt=v)
    if v := filters.get("actor"):
        qs = qs.filter(actor_display_q(v))
    for name in ("action", "target_type", "target_id", "correlation_id"):
        if v := filters.get(name):
            qs = qs.filter(**{name: v})
    if v := filters.get("account"):
        qs = qs.filter(
            Q(target_type="account", target_id=v)
            | Q(metadata__contains={"account": v})
            | Q(metadata__contains={"accounts": [v]})
        )
    return qs


def actor_display_q(text: str) -> Q:
    """Rows whose actor is `text`, given either as stored (`user:3:alice`)
    or as core.actors.actor_display shows it (`alice`, `API key ab12`,
    `system · demo_seed`, `bob (platform)`): what a table shows is what the
    filter takes. An exact match, never a substring."""
    text = text.strip()
    q = Q(actor_ref=text)
    if text.startswith("API key "):
        return q | Q(actor_ref="api_key:" + text.removeprefix("API key ").strip())
    if text.startswith("system · "):
        return q | Q(actor_ref="system:" + text.removeprefix("system · ").strip())
    if text.endswith(" (platform)"):
        name = text.removesuffix(" (platform)").strip()
        return q | Q(actor_ref__regex=r"^staff:[0-9]+:" + re.escape(name) + "$")
    if ":" not in text:
        return q | Q(actor_ref__regex=r"^user:[0-9]+:" + re.escape(text) + "$")
    return q


def audit_actions() -> list[str]:
    """Every action this tenant's audit log holds, for the console's select:
    a skip scan over the action index (one probe per distinct action, not a
    pass over the table)."""
    table = AuditEvent._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"WITH RECURSIVE a(action) AS ("
            f" (SELECT action FROM {table} ORDER BY action LIMIT 1)"
            f" UNION ALL SELECT (SELECT action FROM {table} WHERE action > a.action ORDER BY action LIMIT 1)"
            f" FROM a WHERE a.action IS NOT NULL) SELECT action FROM a WHERE action IS NOT NULL"
        )
        return [r[0] for r in cur.fetchall()]


def audit_events_list(*, filters: dict) -> QuerySet:
    seq = ChainLink.objects.filter(record_type="audit_event", record_id=OuterRef("pk")).values("seq")[:1]
    return audit_events_filter(filters=filters).annotate(chain_seq=Subquery(seq))


# --- exports ------------------------------------------------------------------
def export_get(*, export_id: int) -> Export:
    export = Export.objects.filter(pk=export_id).first()
    if export is None:
        raise errors.ExportNotFound(f"No export {export_id} in this tenant.")
    return export


def export_rows(*, export: Export, kind: ExportKind) -> QuerySet:
    """The pinned row set: the same rows on every call, whatever was written
    since the export was created."""
    qs = kind.queryset(filters_parse(kind.filters, export.filters)).filter(pk__lte=export.max_row_id)
    if export.chain_head_seq is not None and kind.record_type is not None:
        sealed = ChainLink.objects.filter(
            record_type=kind.record_type, record_id=OuterRef(kind.record_field), seq__lte=export.chain_head_seq,
        )
        qs = qs.filter(Exists(sealed))
    return qs.order_by("pk")


def export_csv(*, export: Export) -> CsvDigest:
    """Lazy: iterate it inside a transaction (the rows come from a
    server-side cursor) in the export's tenant schema."""
    kind = export_kind_get(export.kind)
    rows = export_rows(export=export, kind=kind).iterator(chunk_size=kind.chunk_size)
    return CsvDigest(kind.columns, rows, kind.row)


def export_file_name(*, export: Export) -> str:
    tenant = getattr(connection.tenant, "slug", connection.schema_name)
    return f"zentra-{tenant}-{export.kind}-{export.pk}.csv"


def export_manifest(*, export: Export) -> dict:
    kind = export_kind_get(export.kind)
    return {
        "manifest_version": 1,
        "export_id": export.pk,
        "tenant": getattr(connection.tenant, "slug", connection.schema_name),
        "kind": export.kind,
        "filters": export.filters,
        "columns": list(kind.columns),
        "format": "text/csv; RFC 4180; UTF-8; CRLF; header row; formula-leading text cells prefixed with '",
        "file": f"/v1/exports/{export.pk}/file",
        "file_name": export_file_name(export=export),
        "row_count": export.row_count,
        "byte_count": export.byte_count,
        "sha256": export.sha256,
        "chain_head": (
            {"seq": export.chain_head_seq, "hash": export.chain_head_hash}
            if export.chain_head_seq is not None else None
        ),
        # Sealed kinds: rows pinned to the chain head, every pass the same
        # bytes. Mutable kinds (holds, deliveries): rows pinned by id, their
        # state as of the first complete pass (digested_at), which the
        # sha256 is of.
        "pinned_by": "chain_head" if kind.record_type is not None else "max_row_id",
        "exporter": export.exporter,
        "correlation_id": export.correlation_id,
        "generated_at": export.created_at,
        "digested_at": export.digested_at,
    }
