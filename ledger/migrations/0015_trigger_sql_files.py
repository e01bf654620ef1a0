"""Every ledger trigger as its file in ledger/sql/ defines it.

Each file holds one trigger's current definition (its function, CREATE OR
REPLACE, and its triggers), idempotent, so on a schema the earlier
migrations built this changes nothing. Changing a trigger means editing its
file and adding a migration that runs the file again (core.dbtriggers
.sql_apply); the earlier migrations keep the text they ran.
docs/ledger-invariants.md lists every trigger and its file.
"""
from django.db import migrations

from core.dbtriggers import sql_apply


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0014_approval_kind_recon_adjust"),
    ]

    operations = [
        *sql_apply("audit", "refuse_mutation"),
        *sql_apply(
            "ledger",
            "append_only",
            "line_apply",
            "entry_balanced",
            "account_guard",
            "idempotency_guard",
            "hold_apply",
            "holdmovement_guard",
            "reversal_bounded",
            "approval_guard",
            "policy_epoch",
            "posting_late_lock",
        ),
    ]
