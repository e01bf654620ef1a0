"""Demo data for the reconciliation pages: a bank statement for bank_usd,
generated from the demo ledger, imported through the real import service
and matched by the real matcher, so the console has an open run with
breaks (one line the ledger lacks, one amount that differs) next to a
match."""
from __future__ import annotations

import io

from core.actors import Actor
from ledger.models import Account, LedgerEntry
from reconciliation.models import ReconciliationRun, RunStatus
from reconciliation.services.imports import reconciliation_import
from reconciliation.services.matching import reconciliation_run_match

DEMO_ACTOR = Actor.system("demo_seed")
FILE_NAME = "demo-bank-statement.csv"


def demo_statement(*, booked_at: str) -> bytes:
    """Deterministic for a given ledger (the funding entry's date), so a
    re-run imports the same bytes and the import answers with the first run."""
    rows = [
        "reference,amount_minor,currency,booked_at,description",
        f"demo_fund_1,500000,USD,{booked_at},Customer top-up",
        f"bank_fee_1,-2500,USD,{booked_at},Monthly account fee (not booked in the ledger)",
        f"wire_in_7,120000,USD,{booked_at},Incoming wire from an unknown sender",
    ]
    return ("\r\n".join(rows) + "\r\n").encode()


def reconciliation_demo_seed(*, tenant: str) -> dict[str, int]:
    account = Account.objects.filter(code="bank_usd").first()
    funding = LedgerEntry.objects.filter(idempotency_key="demo_fund_1").first()
    if account is None or funding is None:
        return {"runs": 0}
    data = demo_statement(booked_at=funding.effective_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out = reconciliation_import(actor=DEMO_ACTOR, account=account, format="generic_csv", fileobj=io.BytesIO(data),
                                file_name=FILE_NAME)
    run = out.run
    if run.status == RunStatus.PENDING:
        # Matched here rather than left to the worker, so the page is ready
        # when `make run` prints its URLs; the worker's own pass is a no-op.
        run = reconciliation_run_match(run_id=run.pk, actor=DEMO_ACTOR)
    return {"runs": ReconciliationRun.objects.filter(account=account).count(), "run_id": run.pk}
