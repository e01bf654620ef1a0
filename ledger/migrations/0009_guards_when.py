"""The account and idempotency-record guards fire only when they would refuse.

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
INSERT half is unchanged.

`idempotency_guard` likewise: the posting's own write completes its claim
(an UPDATE of a record not yet completed), which called the function under
the accounts' locks only to let it through. Its WHEN clause is the
function's condition: a completed record whose answer would change.
docs/ledger-invariants.md lists both.
"""
from django.db import migrations

ACCOUNT_GUARD_UPDATE = """
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

FORWARD = """
DROP TRIGGER account_guard ON ledger_account;
CREATE TRIGGER account_guard BEFORE INSERT ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION public.zentra_account_guard();
""" + ACCOUNT_GUARD_UPDATE + """
DROP TRIGGER idempotency_guard ON ledger_idempotencyrecord;
CREATE TRIGGER idempotency_guard BEFORE UPDATE ON ledger_idempotencyrecord
    FOR EACH ROW WHEN (OLD.completed_at IS NOT NULL AND (
        NEW.key IS DISTINCT FROM OLD.key OR NEW.request_hash IS DISTINCT FROM OLD.request_hash
        OR NEW.response_status IS DISTINCT FROM OLD.response_status
        OR NEW.response_body IS DISTINCT FROM OLD.response_body
        OR NEW.entry_id IS DISTINCT FROM OLD.entry_id OR NEW.outcome IS DISTINCT FROM OLD.outcome
        OR NEW.completed_at IS DISTINCT FROM OLD.completed_at))
    EXECUTE FUNCTION public.zentra_idempotency_guard();
"""

BACKWARD = """
DROP TRIGGER account_guard_update ON ledger_account;
DROP TRIGGER account_guard ON ledger_account;
CREATE TRIGGER account_guard BEFORE INSERT OR UPDATE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION public.zentra_account_guard();
DROP TRIGGER idempotency_guard ON ledger_idempotencyrecord;
CREATE TRIGGER idempotency_guard BEFORE UPDATE ON ledger_idempotencyrecord
    FOR EACH ROW EXECUTE FUNCTION public.zentra_idempotency_guard();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0008_posting_late_lock"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
