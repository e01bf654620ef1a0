"""Every webhooks trigger as its file in webhooks/sql/ defines it
(idempotent: on a schema the earlier migrations built this changes nothing).
Changing a trigger means editing its file and adding a migration that runs it
again. docs/ledger-invariants.md lists every trigger and its file.
"""
from django.db import migrations

from core.dbtriggers import sql_apply


class Migration(migrations.Migration):

    dependencies = [
        ("webhooks", "0006_event_to_events"),
    ]

    operations = [
        *sql_apply("audit", "refuse_mutation"),
        *sql_apply("webhooks", "append_only"),
    ]
