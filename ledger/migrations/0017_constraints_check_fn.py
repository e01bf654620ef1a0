"""public.zentra_constraints_check(): fires the transaction's deferred
constraint triggers now, as a statement.

On a Citus cluster a tenant's deferred triggers (the balanced-entry check)
run on the worker that holds its tables, at that worker's commit, and a
refusal there reaches the client as Citus's XX000 "could not commit
transaction for shard", not as its own SQLSTATE. The database backend calls
this through a statement routed to the tenant's worker just before COMMIT
(zentra_site/dbbackend), so the refusal is a statement error with its code,
as on one node. On one node nothing calls it.
"""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION public.zentra_constraints_check() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    SET CONSTRAINTS ALL IMMEDIATE;
    RETURN true;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0016_policy_epoch_default"),
    ]

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
