"""The outbox's model, moved here from the webhooks app as state only: the
table (webhooks_event), its indexes and its triggers are the ones the webhooks
migrations made, and nothing in the database changes."""
import events.models
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("webhooks", "0005_one_pattern_index"),  # the table exists
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Event",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("public_id", models.CharField(default=events.models.new_event_id, max_length=40,
                                                       unique=True)),
                        ("type", models.CharField(max_length=80)),
                        ("payload", models.JSONField()),
                        ("correlation_id", models.CharField(db_index=True, max_length=128)),
                        ("actor_ref", models.CharField(blank=True, default="", max_length=200)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                    ],
                    options={
                        "db_table": "webhooks_event",
                        "indexes": [models.Index(fields=["type"], name="event_type_idx",
                                                 opclasses=["varchar_pattern_ops"])],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
