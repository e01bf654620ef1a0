from django.db import migrations

# webhooks_delivery is a queue: each delivery is updated three or four times
# (claim, start, result) and leaves the pending index when it finishes.
# fillfactor leaves room on each page so the claim and start updates (which
# touch no indexed column) are HOT: no new entry in any of the table's
# indexes. The autovacuum settings clean the pending index of finished rows
# after ~2 % of the table changed instead of the default 20 %, so a claim's
# ordered scan of that index does not wade through dead entries.
STORAGE = (
    "fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000"
)


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0003_hot_path_indexes")]

    operations = [
        migrations.RunSQL(
            f"ALTER TABLE webhooks_delivery SET ({STORAGE})",
            "ALTER TABLE webhooks_delivery RESET (fillfactor, autovacuum_vacuum_scale_factor, "
            "autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)",
        ),
    ]
