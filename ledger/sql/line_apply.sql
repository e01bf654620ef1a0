-- The one place posted balances change, and the checks every line passes (its
-- account and entry exist, the entry has room, currency, account open).
-- One statement per line; static SQL when search_path is the trigger's schema.
-- docs/ledger-invariants.md.

CREATE OR REPLACE FUNCTION public.zentra_line_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_balance bigint;
    v_currency text;
    v_status text;
    v_declared bigint;
    v_have bigint;
BEGIN
    -- The one place balances change: stored balances equal the sum of lines
    -- by construction, whichever code path inserted the line. The same
    -- statement reads the line's entry: it must exist (visible to this
    -- transaction) and still have room. Lines inserted earlier by the same
    -- statement are counted, so an entry takes exactly its declared
    -- line_count lines; the deferred ledgerentry_balanced checks them once,
    -- at commit.
    IF current_schema() = TG_TABLE_SCHEMA THEN
        UPDATE ledger_account SET
             posted_balance = posted_balance + CASE WHEN normal_side = NEW.side THEN NEW.amount_minor ELSE -NEW.amount_minor END,
             debits_total = debits_total + CASE WHEN NEW.side = 'debit' THEN NEW.amount_minor ELSE 0 END,
             credits_total = credits_total + CASE WHEN NEW.side = 'credit' THEN NEW.amount_minor ELSE 0 END,
             lines_count = lines_count + 1
         WHERE id = NEW.account_id
         RETURNING posted_balance, currency, status,
                   (SELECT e.line_count FROM ledger_ledgerentry e WHERE e.id = NEW.entry_id),
                   (SELECT count(*) FROM ledger_ledgerline l WHERE l.entry_id = NEW.entry_id)
              INTO v_balance, v_currency, v_status, v_declared, v_have;
    ELSE
        EXECUTE format(
            'UPDATE %1$I.ledger_account SET
                 posted_balance = posted_balance + CASE WHEN normal_side = $1 THEN $2 ELSE -$2 END,
                 debits_total = debits_total + CASE WHEN $1 = ''debit'' THEN $2 ELSE 0 END,
                 credits_total = credits_total + CASE WHEN $1 = ''credit'' THEN $2 ELSE 0 END,
                 lines_count = lines_count + 1
             WHERE id = $3
             RETURNING posted_balance, currency, status,
                       (SELECT e.line_count FROM %1$I.ledger_ledgerentry e WHERE e.id = $4),
                       (SELECT count(*) FROM %1$I.ledger_ledgerline l WHERE l.entry_id = $4)', TG_TABLE_SCHEMA)
            INTO v_balance, v_currency, v_status, v_declared, v_have
            USING NEW.side, NEW.amount_minor, NEW.account_id, NEW.entry_id;
    END IF;
    IF v_currency IS NULL THEN
        RAISE EXCEPTION 'zentra: line refers to unknown account %', NEW.account_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF v_declared IS NULL THEN
        RAISE EXCEPTION 'zentra: line refers to unknown entry %', NEW.entry_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF v_have >= v_declared THEN
        RAISE EXCEPTION 'zentra: entry % already has its % lines; entries are append-only', NEW.entry_id, v_declared
            USING ERRCODE = 'check_violation';
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

CREATE OR REPLACE TRIGGER ledgerline_apply BEFORE INSERT ON ledger_ledgerline
    FOR EACH ROW EXECUTE FUNCTION public.zentra_line_apply();
