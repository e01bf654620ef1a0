"""Statement import: validate the whole file, store it, queue the matching."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from core import errors as core_errors
from reconciliation import errors
from ledger.models import Account
from core.context import get_correlation_id

from ..formats import READ_BYTES, ScanResult, chunks_of, statement_scan
from ..models import AmountBasis, ReconciliationRun, RunStatus, StatementChunk, StatementFormat
from ..presenters import run_summary

MAX_WINDOW_DAYS = 31


@dataclass(frozen=True)
class ImportOutcome:
    run: ReconciliationRun
    duplicate: bool


def _file_size(fileobj) -> int:
    size = getattr(fileobj, "size", None)
    if size is None:
        pos = fileobj.tell()
        fileobj.seek(0, 2)
        size = fileobj.tell()
        fileobj.seek(pos)
    return size


def statement_period(scan: ScanResult, *, start: dt.datetime | None, end: dt.datetime | None):
    """The statement's period, [start, end): by default the whole UTC days
    its lines were booked on. Ledger entries effective in the period are
    expected on the statement (else missing_at_provider)."""
    if start is None:
        first = scan.first_booked_at
        start = dt.datetime(first.year, first.month, first.day, tzinfo=dt.timezone.utc)
    if end is None:
        last = scan.last_booked_at
        end = dt.datetime(last.year, last.month, last.day, tzinfo=dt.timezone.utc) + dt.timedelta(days=1)
    if start >= end:
        raise core_errors.InvalidRange("period_start must be before period_end.")
    return start, end


def reconciliation_import(
    *, actor: Actor, account: Account, format: str, fileobj, file_name: str = "", date_window_days: int = 3,
    amount_basis: str = AmountBasis.NET, period_start: dt.datetime | None = None,
    period_end: dt.datetime | None = None,
) -> ImportOutcome:
    """Import one provider statement for `account`.

    The file is validated in full before anything is written (a bad line is a
    4xx naming its line and column, and no run exists afterwards). The same
    file for the same account again answers with the first run. Matching runs
    in a worker once this transaction commits."""
    if format not in StatementFormat.values:
        raise core_errors.ValidationFailed(f"format is one of {', '.join(StatementFormat.values)}.", field="format")
    if not 0 <= date_window_days <= MAX_WINDOW_DAYS:
        raise core_errors.ValidationFailed(f"date_window_days is 0..{MAX_WINDOW_DAYS}.", field="date_window_days")
    limit = settings.RECONCILIATION_MAX_UPLOAD_BYTES
    size = _file_size(fileobj)
    if size > limit:
        raise errors.StatementTooLarge(f"The statement is {size} bytes; the limit is {limit} bytes.", limit=limit)
    basis = amount_basis if format == StatementFormat.STRIPE_BALANCE_CSV else ""
    fileobj.seek(0)
    # CPU only, before the transaction: a bad file never holds a connection in a transaction.
    scan = statement_scan(fileobj, format=format, amount_basis=basis or AmountBasis.NET)
    start, end = statement_period(scan, start=period_start, end=period_end)
    with transaction.atomic():
        with connection.cursor() as cur:
            # Two uploads of one file at once: the second waits here, then finds the first.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        [f"recon-import:{connection.schema_name}:{account.pk}:{scan.sha256}"])
        existing = (ReconciliationRun.objects.select_related("account")
                    .filter(account=account, file_sha256=scan.sha256, rerun_of__isnull=True).first())
        if existing is not None:
            now = timezone.now()
            ReconciliationRun.objects.filter(pk=existing.pk).update(
                reimport_count=F("reimport_count") + 1, last_reimported_at=now)
            existing.refresh_from_db()
            audit_record(actor=actor, action="reconciliation.reimported", target_type="reconciliation_run",
                         target_id=existing.pk, metadata={"file_sha256": scan.sha256, "file_name": file_name,
                                                          "account": account.code})
            return ImportOutcome(run=existing, duplicate=True)
        run = ReconciliationRun.objects.create(
            account=account, format=format, amount_basis=basis, status=RunStatus.PENDING, file_name=file_name[:255],
            file_sha256=scan.sha256, file_size=scan.size, date_window_days=date_window_days,
            period_start=start, period_end=end, lines_total=scan.lines, actor_ref=actor.ref,
            correlation_id=get_correlation_id(),
        )
        fileobj.seek(0)
        for seq, chunk in enumerate(chunks_of(fileobj, READ_BYTES)):
            StatementChunk.objects.create(run=run, seq=seq, data=chunk)
        audit_record(actor=actor, action="reconciliation.imported", target_type="reconciliation_run",
                     target_id=run.pk, after=run_summary(run),
                     metadata={"file_sha256": scan.sha256, "file_name": file_name, "format": format,
                               "lines": scan.lines, "account": account.code,
                               "currencies": sorted(scan.currencies)})
        _enqueue_on_commit(run.pk)
    return ImportOutcome(run=run, duplicate=False)


def _enqueue_on_commit(run_id: int) -> None:
    from ..tasks import reconciliation_run_task

    # tenant-schemas-celery stamps the task with the connection's schema at send time.
    transaction.on_commit(lambda: reconciliation_run_task.delay(run_id))


def reconciliation_rerun(*, actor: Actor, run: ReconciliationRun, date_window_days: int | None = None) -> ReconciliationRun:
    """Match the same file again against the ledger as it is now (after
    adjusting entries, late postings). A new run; explanations given on the
    previous run's items carry over to the same items."""
    if date_window_days is not None and not 0 <= date_window_days <= MAX_WINDOW_DAYS:
        raise core_errors.ValidationFailed(f"date_window_days is 0..{MAX_WINDOW_DAYS}.", field="date_window_days")
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().select_related("account").get(pk=run.pk)
        if run.status not in (RunStatus.COMPLETED, RunStatus.FAILED):
            raise errors.ReconciliationInProgress(f"Reconciliation {run.pk} is {run.status}; re-run it once it has finished.")
        new = ReconciliationRun.objects.create(
            account=run.account, format=run.format, amount_basis=run.amount_basis, status=RunStatus.PENDING,
            file_name=run.file_name, file_sha256=run.file_sha256, file_size=run.file_size,
            source_run_id=run.source_run_id or run.pk, rerun_of=run,
            date_window_days=run.date_window_days if date_window_days is None else date_window_days,
            period_start=run.period_start, period_end=run.period_end, lines_total=run.lines_total,
            actor_ref=actor.ref, correlation_id=get_correlation_id(),
        )
        audit_record(actor=actor, action="reconciliation.rerun", target_type="reconciliation_run", target_id=new.pk,
                     after=run_summary(new), metadata={"rerun_of": run.pk, "account": run.account.code})
        _enqueue_on_commit(new.pk)
    return new
