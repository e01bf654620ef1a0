"""The account guard's UPDATE half fires only when it would refuse.

`account_guard` ran its PL/pgSQL function for every account update, and
every posted line and every hold update one (the line and hold triggers
move balances), only to find, almost always, nothing to refuse. The UPDATE
trigger now carries the guard's own conditions as a WHEN clause, which
PostgreSQL evaluates as a plain expression before calling any function:

- balance columns changed by a statement that is not itself inside a
  trigger (`pg_trigger_depth() < 1` in WHEN, which is evaluated before the
  function raises the depth; the function's own `< 2` is the same test);
- currency or normal side changed on an account that has lines.

The function is unchanged and still decides (and words the refusal); the
INSERT half is unchanged. docs/ledger-invariants.md lists both.
"""
from django.db import migrations

FORWARD = """
DROP TRIGGER account_guard ON ledger_account;
CREATE TRIGGER account_guard BEFORE INSERT ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION public.zentra_account_guard();
CREATE TRIGGER account_guard_update BEFORE UPDATE ON ledger_account
    FOR EACH ROW WHEN (
        (pg_trigger_depth() < 1 AND (
            NEW.posted_balance IS DISTINCT FROM OLD.posted_balance
            OR NEW.pending_balance IS DISTINCT FROM OLD.pending_balance
            OR NEW.debits_total IS DISTINCT FROM OLD.debits_total
            OR NEW.credits_total IS DISTINCT FROM OLD.credits_total
            OR NEW.lines_count IS DISTINCT FROM OLD.lines_count))
        OR (OLD.lines_count > 0 AND (NEW.currency IS DISTINCT FROM OLD.currency
                                     OR NEW.normal_side IS DISTINCT FROM OLD.normal_side)))
    EXECUTE FUNCTION public.zentra_account_guard();
"""

BACKWARD = """
DROP TRIGGER account_guard_update ON ledger_account;
DROP TRIGGER account_guard ON ledger_account;
CREATE TRIGGER account_guard BEFORE INSERT OR UPDATE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION public.zentra_account_guard();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0008_posting_late_lock"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
