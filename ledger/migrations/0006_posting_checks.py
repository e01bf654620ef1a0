"""The posting path's checks, once per entry instead of once per line.

Before: every line fired the deferred `ledgerline_balanced` trigger (three
queries at commit) on top of the entry's own `ledgerentry_balanced`, plus two
deferred FOREIGN KEY checks, each of which also wrote a row lock onto the
entry it checked. A two-line posting ran the balance check three times.

Now the line trigger (BEFORE INSERT, which already updates the account row)
also reads the line's entry and refuses a line beyond the entry's declared
`line_count` -- so no line can ever be added to an entry that has its lines,
committed or not -- and a line whose entry or account does not exist. The
deferred `ledgerentry_balanced` then checks each entry once, at commit, in one
query: exactly `line_count` (>= 2) lines, balanced per currency. Together
they hold everything the per-line trigger and the FOREIGN KEYs held
(docs/ledger-invariants.md).
"""
import django.db.models.deletion
from django.db import migrations, models

LINE_APPLY = r"""
CREATE OR REPLACE FUNCTION public.zentra_line_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_balance bigint;
    v_currency text;
    v_status text;
    v_declared bigint;
    v_have bigint;
BEGIN
    -- The line's entry: it must exist (visible to this transaction) and
    -- still have room. Lines inserted earlier by the same statement are
    -- counted, so an entry takes exactly its declared line_count lines; the
    -- deferred ledgerentry_balanced checks them once, at commit.
    IF current_schema() = TG_TABLE_SCHEMA THEN
        SELECT e.line_count, (SELECT count(*) FROM ledger_ledgerline l WHERE l.entry_id = e.id)
          INTO v_declared, v_have FROM ledger_ledgerentry e WHERE e.id = NEW.entry_id;
    ELSE
        EXECUTE format('SELECT e.line_count, (SELECT count(*) FROM %1$I.ledger_ledgerline l WHERE l.entry_id = e.id)
                          FROM %1$I.ledger_ledgerentry e WHERE e.id = $1', TG_TABLE_SCHEMA)
            INTO v_declared, v_have USING NEW.entry_id;
    END IF;
    IF v_declared IS NULL THEN
        RAISE EXCEPTION 'zentra: line refers to unknown entry %', NEW.entry_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF v_have >= v_declared THEN
        RAISE EXCEPTION 'zentra: entry % already has its % lines; entries are append-only', NEW.entry_id, v_declared
            USING ERRCODE = 'check_violation';
    END IF;
    -- The one place balances change: stored balances equal the sum of lines
    -- by construction, whichever code path inserted the line.
    IF current_schema() = TG_TABLE_SCHEMA THEN
        UPDATE ledger_account SET
             posted_balance = posted_balance + CASE WHEN normal_side = NEW.side THEN NEW.amount_minor ELSE -NEW.amount_minor END,
             debits_total = debits_total + CASE WHEN NEW.side = 'debit' THEN NEW.amount_minor ELSE 0 END,
             credits_total = credits_total + CASE WHEN NEW.side = 'credit' THEN NEW.amount_minor ELSE 0 END,
             lines_count = lines_count + 1
         WHERE id = NEW.account_id
         RETURNING posted_balance, currency, status INTO v_balance, v_currency, v_status;
    ELSE
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
    END IF;
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
    v_count bigint;
    v_min text;
    v_max text;
    v_sum numeric;
    v_currency text;
    v_diff numeric;
BEGIN
    -- Fired once per entry (deferred to commit): all its lines are in by
    -- then, and the line trigger refuses any beyond line_count later. One
    -- plain aggregate answers the common single-currency entry; only an
    -- entry with several currencies needs the per-currency grouping.
    IF current_schema() = TG_TABLE_SCHEMA THEN
        SELECT count(*), min(currency), max(currency),
               sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END)
          INTO v_count, v_min, v_max, v_sum FROM ledger_ledgerline WHERE entry_id = NEW.id;
        IF v_min IS DISTINCT FROM v_max THEN
            SELECT currency, sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END)
              INTO v_currency, v_diff FROM ledger_ledgerline WHERE entry_id = NEW.id
             GROUP BY currency HAVING sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END) <> 0
             ORDER BY currency LIMIT 1;
        END IF;
    ELSE
        EXECUTE format('SELECT count(*), min(currency), max(currency),
                               sum(CASE WHEN side = ''debit'' THEN amount_minor ELSE -amount_minor END)
                          FROM %I.ledger_ledgerline WHERE entry_id = $1', TG_TABLE_SCHEMA)
            INTO v_count, v_min, v_max, v_sum USING NEW.id;
        IF v_min IS DISTINCT FROM v_max THEN
            EXECUTE format(
                'SELECT currency, sum(CASE WHEN side = ''debit'' THEN amount_minor ELSE -amount_minor END)
                   FROM %I.ledger_ledgerline WHERE entry_id = $1
                  GROUP BY currency HAVING sum(CASE WHEN side = ''debit'' THEN amount_minor ELSE -amount_minor END) <> 0
                  ORDER BY currency LIMIT 1', TG_TABLE_SCHEMA)
                INTO v_currency, v_diff USING NEW.id;
        END IF;
    END IF;
    IF v_min IS NOT DISTINCT FROM v_max AND v_sum <> 0 THEN
        v_currency := v_min;
        v_diff := v_sum;
    END IF;
    IF v_count < 2 OR v_count <> NEW.line_count THEN
        RAISE EXCEPTION 'zentra: entry % has % lines (declared %); an entry has at least 2', NEW.id, v_count, NEW.line_count
            USING ERRCODE = 'check_violation';
    END IF;
    IF v_currency IS NOT NULL THEN
        RAISE EXCEPTION 'zentra: entry % is unbalanced in %: debits - credits = %', NEW.id, v_currency, v_diff
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""


def _previous() -> str:
    import importlib

    m = importlib.import_module("ledger.migrations.0003_lifecycle")
    return m.LINE_APPLY_FAST + m.ENTRY_BALANCED_FAST + """
        CREATE CONSTRAINT TRIGGER ledgerline_balanced AFTER INSERT ON ledger_ledgerline
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION public.zentra_entry_balanced();"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_hot_path_indexes")]

    operations = [
        migrations.RunSQL(
            "DROP TRIGGER ledgerline_balanced ON ledger_ledgerline;" + LINE_APPLY + ENTRY_BALANCED,
            _previous(),
        ),
        migrations.AlterField(
            model_name="ledgerline",
            name="entry",
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="lines", to="ledger.ledgerentry"),
        ),
        migrations.AlterField(
            model_name="ledgerline",
            name="account",
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="lines", to="ledger.account"),
        ),
    ]
