"""The epoch column's default is the database-wide epoch sequence.

Nothing inserts without an epoch (the bump trigger names nextval itself);
the default makes the sequence a dependency of every tenant's
ledger_policyepoch table. On a Citus cluster that is what puts the sequence
on the workers, where the bump trigger of a distributed tenant runs: Citus
creates a table's sequences on every node, each node drawing from its own
range, so an epoch is still never repeated. On one node nothing changes.
"""
from django.db import migrations

FORWARD = "ALTER TABLE ledger_policyepoch ALTER COLUMN epoch SET DEFAULT nextval('public.zentra_policy_epoch_seq')"
BACKWARD = "ALTER TABLE ledger_policyepoch ALTER COLUMN epoch SET DEFAULT 0"


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0013_account_guard_depth_when"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
