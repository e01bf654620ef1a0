"""Outbox events are written on every posting: no index twin nobody reads
(core.dbtriggers.drop_prefix_indexes; docs/ledger.md "Posting path").
The event type keeps its twin: GET /v1/events filters `ledger.*` by prefix."""
from django.db import migrations

from core.dbtriggers import drop_prefix_indexes


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0002_endpoints_deliveries")]

    operations = [
        drop_prefix_indexes("webhooks_event_public_id_b727ac7e_like", "webhooks_event_correlation_id_9cdb740d_like"),
    ]
