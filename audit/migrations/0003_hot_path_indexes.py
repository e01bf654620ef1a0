"""Audit rows are written on every posting: no index twin nobody reads
(core.dbtriggers.drop_prefix_indexes; docs/ledger.md "Posting path")."""
from django.db import migrations

from core.dbtriggers import drop_prefix_indexes


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain_export")]

    operations = [
        drop_prefix_indexes("audit_auditevent_actor_ref_290df6d9_like", "audit_auditevent_correlation_id_d114afc6_like"),
    ]
