"""The outbox's model now belongs to the events app (events/0001_initial):
deliveries point at events.Event. State only: the foreign key, the table and
its rows stay exactly as they are."""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0001_initial"),
        ("webhooks", "0005_one_pattern_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="event",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="deliveries",
                                            to="events.event"),
                ),
                migrations.DeleteModel(name="Event"),
            ],
            database_operations=[],
        ),
    ]
