"""Database-enforced ledger invariants. Each trigger is listed with its reason
in docs/ledger-invariants.md.

Functions live in the public schema and address tables through
TG_TABLE_SCHEMA, so the same function serves every tenant schema, including
schemas cloned from the template after this migration ran."""
from django.db import migrations

from core.dbtriggers import append_only

LINE_APPLY = r"""
CREATE OR REPLACE FUNCTION public.zentra_line_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_balance bigint;
    v_currency text;
    v_status text;
BEGIN
    -- The one place balances change: stored balances equal the sum of lines
    -- by construction, whichever code path inserted the line.
    EXECUTE format(
        'UPDATE %I.ledger_account SET
             posted_balance = posted_balance + CASE WHEN normal_side = $1 THEN $2 ELSE -$2 END,
             debits_total = debits_total + CASE WHEN $1 = ''debit'' THEN $2 ELSE 0 END,
             credits_total = credits_total + CASE WHEN $1 = ''credit'' THEN $2 ELSE 0 END,
             lines_count = lines_count + 1
         WHERE id = $3
         RETURNING posted_balance, currency, status', TG_TABLE_SCHEMA)
        INTO v_balance, v_currency, v_status
        USING NEW.side, NEW.amount_minor, NEW.account_id;
    IF v_currency IS NULL THEN
        RAISE EXCEPTION 'zentra: line refers to unknown account %', NEW.account_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF v_currency <> NEW.currency THEN
        RAISE EXCEPTION 'zentra: line currency % differs from account currency %', NEW.currency, v_currency
            USING ERRCODE = 'check_violation';
    END IF;
    IF v_status = 'closed' THEN
        RAISE EXCEPTION 'zentra: account % is closed', NEW.account_id USING ERRCODE = 'check_violation';
    END IF;
    NEW.balance_after := v_balance;
    NEW.posted_at := clock_timestamp();
    RETURN NEW;
END $$;
"""

ENTRY_BALANCED = r"""
CREATE OR REPLACE FUNCTION public.zentra_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_count bigint;
    v_expected bigint;
    v_currency text;
    v_diff numeric;
BEGIN
    IF TG_TABLE_NAME = 'ledger_ledgerentry' THEN
        v_entry := NEW.id;
    ELSE
        v_entry := NEW.entry_id;
    END IF;
    EXECUTE format('SELECT line_count FROM %I.ledger_ledgerentry WHERE id = $1', TG_TABLE_SCHEMA)
        INTO v_expected USING v_entry;
    EXECUTE format('SELECT count(*) FROM %I.ledger_ledgerline WHERE entry_id = $1', TG_TABLE_SCHEMA)
        INTO v_count USING v_entry;
    IF v_count < 2 OR v_count <> v_expected THEN
        RAISE EXCEPTION 'zentra: entry % has % lines (declared %); an entry has at least 2', v_entry, v_count, v_expected
            USING ERRCODE = 'check_violation';
    END IF;
    EXECUTE format(
        'SELECT currency, sum(CASE WHEN side = ''debit'' THEN amount_minor ELSE -amount_minor END)
           FROM %I.ledger_ledgerline WHERE entry_id = $1
          GROUP BY currency
         HAVING sum(CASE WHEN side = ''debit'' THEN amount_minor ELSE -amount_minor END) <> 0
          LIMIT 1', TG_TABLE_SCHEMA)
        INTO v_currency, v_diff USING v_entry;
    IF v_currency IS NOT NULL THEN
        RAISE EXCEPTION 'zentra: entry % is unbalanced in %: debits - credits = %', v_entry, v_currency, v_diff
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

ACCOUNT_GUARD = r"""
CREATE OR REPLACE FUNCTION public.zentra_account_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.posted_balance <> 0 OR NEW.pending_balance <> 0 OR NEW.debits_total <> 0
           OR NEW.credits_total <> 0 OR NEW.lines_count <> 0 THEN
            RAISE EXCEPTION 'zentra: an account starts at zero; balances come from lines'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    -- Depth 1 is a statement issued by a client; depth >= 2 is the line or
    -- hold trigger applying a posting. Only the latter may move balances.
    IF pg_trigger_depth() < 2 AND (
        NEW.posted_balance IS DISTINCT FROM OLD.posted_balance
        OR NEW.pending_balance IS DISTINCT FROM OLD.pending_balance
        OR NEW.debits_total IS DISTINCT FROM OLD.debits_total
        OR NEW.credits_total IS DISTINCT FROM OLD.credits_total
        OR NEW.lines_count IS DISTINCT FROM OLD.lines_count) THEN
        RAISE EXCEPTION 'zentra: account balances change only by posting lines'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.lines_count > 0 AND (NEW.currency <> OLD.currency OR NEW.normal_side <> OLD.normal_side) THEN
        RAISE EXCEPTION 'zentra: currency and normal side of an account with lines are fixed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
"""

IDEMPOTENCY_GUARD = r"""
CREATE OR REPLACE FUNCTION public.zentra_idempotency_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A completed boundary keeps its answer forever; only replay evidence moves.
    IF OLD.completed_at IS NOT NULL AND (
        NEW.key IS DISTINCT FROM OLD.key OR NEW.request_hash IS DISTINCT FROM OLD.request_hash
        OR NEW.response_status IS DISTINCT FROM OLD.response_status
        OR NEW.response_body IS DISTINCT FROM OLD.response_body
        OR NEW.entry_id IS DISTINCT FROM OLD.entry_id OR NEW.outcome IS DISTINCT FROM OLD.outcome
        OR NEW.completed_at IS DISTINCT FROM OLD.completed_at) THEN
        RAISE EXCEPTION 'zentra: idempotency record % is completed and immutable', OLD.key
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        *append_only("ledger_ledgerentry"),
        *append_only("ledger_ledgerline"),
        *append_only("ledger_policy"),
        migrations.RunSQL(LINE_APPLY + ENTRY_BALANCED + ACCOUNT_GUARD + IDEMPOTENCY_GUARD, migrations.RunSQL.noop),
        migrations.RunSQL(
            """
            CREATE TRIGGER ledgerline_apply BEFORE INSERT ON ledger_ledgerline
                FOR EACH ROW EXECUTE FUNCTION public.zentra_line_apply();
            CREATE CONSTRAINT TRIGGER ledgerline_balanced AFTER INSERT ON ledger_ledgerline
                DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION public.zentra_entry_balanced();
            CREATE CONSTRAINT TRIGGER ledgerentry_balanced AFTER INSERT ON ledger_ledgerentry
                DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION public.zentra_entry_balanced();
            CREATE TRIGGER account_guard BEFORE INSERT OR UPDATE ON ledger_account
                FOR EACH ROW EXECUTE FUNCTION public.zentra_account_guard();
            CREATE TRIGGER account_no_delete BEFORE DELETE ON ledger_account
                FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
            CREATE TRIGGER account_no_truncate BEFORE TRUNCATE ON ledger_account
                FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
            CREATE TRIGGER idempotency_guard BEFORE UPDATE ON ledger_idempotencyrecord
                FOR EACH ROW EXECUTE FUNCTION public.zentra_idempotency_guard();
            CREATE TRIGGER idempotency_no_delete BEFORE DELETE ON ledger_idempotencyrecord
                FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
            CREATE TRIGGER idempotency_no_truncate BEFORE TRUNCATE ON ledger_idempotencyrecord
                FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
            """,
            migrations.RunSQL.noop,
        ),
    ]
