from __future__ import annotations

import datetime as dt

from django.db.models import Count, QuerySet, Sum

from ledger import errors
from reconciliation import errors as reconciliation_errors
from core import errors as core_errors
from ledger.models import Account

from .models import ItemKind, ItemStatus, ReconciliationItem, ReconciliationRun, RunStatus
from core.ids import int_from_text
from django.db.models import Q


def run_get(run_id: int | str) -> ReconciliationRun:
    run = None
    run_pk = int_from_text(run_id)
    if run_pk is not None:
        run = ReconciliationRun.objects.select_related("account").filter(pk=run_pk).first()
    if run is None:
        raise reconciliation_errors.ReconciliationNotFound(f"No reconciliation '{run_id}'.")
    return run


def run_list(*, account: Account | None = None, status: str | None = None) -> QuerySet[ReconciliationRun]:
    if status and status not in RunStatus.values:
        raise core_errors.ValidationFailed(f"status is one of {', '.join(RunStatus.values)}.", field="status")
    qs = ReconciliationRun.objects.select_related("account")
    if account is not None:
        qs = qs.filter(account=account)
    if status:
        qs = qs.filter(status=status)
    return qs


def item_list(*, run: ReconciliationRun, kind: str | None = None, status: str | None = None
              ) -> QuerySet[ReconciliationItem]:
    if kind and kind not in ItemKind.values:
        raise core_errors.ValidationFailed(f"kind is one of {', '.join(ItemKind.values)}.", field="kind")
    if status and status not in ItemStatus.values:
        raise core_errors.ValidationFailed(f"status is one of {', '.join(ItemStatus.values)}.", field="status")
    qs = ReconciliationItem.objects.filter(run=run).select_related("entry", "adjusting_entry")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs


def item_get(*, run: ReconciliationRun, item_id: int) -> ReconciliationItem:
    item = ReconciliationItem.objects.select_related("entry", "adjusting_entry").filter(run=run, pk=item_id).first()
    if item is None:
        raise reconciliation_errors.ReconciliationItemNotFound(f"No item {item_id} in reconciliation {run.pk}.")
    return item


def account_for_reconciliation(ref: int | str) -> Account:
    """An account named in a request body: unknown is a 400, not a 404."""
    qs = Account.objects.all()
    account_id = int_from_text(ref)
    acc = qs.filter(pk=account_id).first() if account_id is not None else qs.filter(code=ref).first()
    if acc is None:
        raise errors.AccountNotFound(f"Unknown account '{ref}'.", accounts=[ref])
    return acc


def runs_stale(*, older_than: dt.datetime) -> QuerySet[ReconciliationRun]:
    """Runs a worker should be on but nobody has touched since `older_than`."""
    return ReconciliationRun.objects.filter(status__in=[RunStatus.PENDING, RunStatus.PROCESSING]).filter(
        Q(heartbeat_at__lt=older_than) | Q(heartbeat_at__isnull=True, created_at__lt=older_than))


def item_breakdown(*, run: ReconciliationRun) -> list[dict]:
    """Per kind as the items stand now (after manual pairing and
    resolutions): how many, how many still open, and per currency the sum of
    differences (statement − ledger) of all and of the open ones."""
    rows = (ReconciliationItem.objects.filter(run=run)
            .values("kind", "status", "statement_currency", "ledger_currency")
            .annotate(n=Count("id"), diff=Sum("difference")))
    out: dict[str, dict] = {k: {"kind": k, "items": 0, "open": 0, "totals": {}} for k in ItemKind.values}
    for r in rows:
        k = out[r["kind"]]
        k["items"] += r["n"]
        is_open = r["status"] == ItemStatus.OPEN
        if is_open:
            k["open"] += r["n"]
        currency = r["statement_currency"] or r["ledger_currency"]
        t = k["totals"].setdefault(currency, {"currency": currency, "difference_minor": 0, "open_difference_minor": 0})
        t["difference_minor"] += r["diff"] or 0
        if is_open:
            t["open_difference_minor"] += r["diff"] or 0
    result = []
    for k in out.values():
        k["totals"] = sorted(k["totals"].values(), key=lambda t: t["currency"])
        result.append(k)
    return result


def match_candidates(*, run: ReconciliationRun, limit: int = 200) -> QuerySet[ReconciliationItem]:
    """Entries this run found missing at the provider, still open: what an
    unpaired line most likely belongs to."""
    return (ReconciliationItem.objects.filter(run=run, kind=ItemKind.MISSING_AT_PROVIDER, status=ItemStatus.OPEN)
            .select_related("entry").order_by("id")[:limit])
