"""Every closeout trigger as its file in closeout/sql/ defines it
(idempotent: on a schema the earlier migrations built this changes nothing).
Changing a trigger means editing its file and adding a migration that runs it
again. docs/ledger-invariants.md lists every trigger and its file.
"""
from django.db import migrations

from core.dbtriggers import sql_apply


class Migration(migrations.Migration):

    dependencies = [
        ("closeout", "0001_initial"),
    ]

    operations = [
        *sql_apply("audit", "refuse_mutation"),
        *sql_apply("closeout", "entry_period_open", "append_only"),
    ]
