"""`account_guard_update`'s WHEN clause is the depth test alone.

Every posted line updates its account from inside the line trigger, and
PostgreSQL builds an UPDATE trigger's WHEN clause afresh for each statement
it runs (the clause is stored as a node tree that is read back, then
compiled): for the trigger's statement that is once per line. The clause
0009 wrote out -- the depth test and both of the guard's conditions, seven
column comparisons -- was most of that work, and it only ever let the
update through.

Now it is `pg_trigger_depth() < 1`: every UPDATE a client issues calls the
function, which decides both refusals as before (balance columns moved by a
client; currency or normal side changed on an account with lines). Updates
made from inside a trigger skip it: those are the line and hold triggers,
which move balances only -- and only the tables' owner can create a
trigger. pgbench on the one-statement posting (bench/postings.py's
statement), six interleaved pairs on the bench database: median 1779
against 1869 postings/s. docs/ledger-invariants.md lists the trigger.
"""
import importlib

from django.db import migrations

FORWARD = """
DROP TRIGGER account_guard_update ON ledger_account;
CREATE TRIGGER account_guard_update BEFORE UPDATE ON ledger_account
    FOR EACH ROW WHEN (pg_trigger_depth() < 1)
    EXECUTE FUNCTION public.zentra_account_guard();
"""

# Backward: the trigger as 0009 wrote it.
BACKWARD = "DROP TRIGGER account_guard_update ON ledger_account;\n" + importlib.import_module(
    "ledger.migrations.0009_guards_when").ACCOUNT_GUARD_UPDATE


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0012_record_entry_no_fk"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
