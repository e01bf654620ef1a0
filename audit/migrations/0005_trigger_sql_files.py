"""Every audit trigger as its file in audit/sql/ defines it (idempotent: on a
schema the earlier migrations built this changes nothing). Changing a
trigger means editing its file and adding a migration that runs it again.
docs/ledger-invariants.md lists every trigger and its file.
"""
from django.db import migrations

from core.dbtriggers import sql_apply


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_one_pattern_index"),
    ]

    operations = sql_apply("audit", "refuse_mutation", "audit_append_only", "chain_link_append", "export_digest_once")
