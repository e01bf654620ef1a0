"""The epoch column's default is the database-wide epoch sequence.

Nothing inserts without an epoch (the bump trigger names nextval itself);
the default makes the sequence a dependency of every tenant's
ledger_policyepoch table. On a Citus cluster that is what puts the sequence
on the workers, where the bump trigger of a distributed tenant runs: Citus
creates a table's sequences on every node, each node drawing from its own
range, so an epoch is still never repeated. On one node nothing changes.

Citus creates a dependency like this one only when the distributing user may;
provisioning distributes as the owner role, so on a Citus coordinator the
sequence is also created on every worker here, starting each worker's range
where Citus starts it (group id << 48) so no two nodes draw the same epoch.
"""
from django.db import migrations

FORWARD = "ALTER TABLE ledger_policyepoch ALTER COLUMN epoch SET DEFAULT nextval('public.zentra_policy_epoch_seq')"
ON_WORKERS = r"""
DO $do$
BEGIN
    -- nested, and the catalog read through EXECUTE: without Citus its tables do not exist
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        EXECUTE $q$SELECT run_command_on_workers($cmd$
            DO $w$ BEGIN
                EXECUTE format('CREATE SEQUENCE IF NOT EXISTS public.zentra_policy_epoch_seq START %s',
                               ((SELECT groupid FROM pg_dist_local_group)::bigint << 48) + 1);
            END $w$ $cmd$) FROM pg_dist_local_group WHERE groupid = 0$q$;
    END IF;
END $do$;
"""
BACKWARD = "ALTER TABLE ledger_policyepoch ALTER COLUMN epoch SET DEFAULT 0"


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0015_trigger_sql_files"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD), migrations.RunSQL(ON_WORKERS, migrations.RunSQL.noop)]
