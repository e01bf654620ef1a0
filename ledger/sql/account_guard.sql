-- Accounts start at zero; balance columns move only from inside the line and
-- hold triggers; currency and normal side are fixed once an account has lines.
-- docs/ledger-invariants.md.

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

CREATE OR REPLACE TRIGGER account_guard BEFORE INSERT ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION public.zentra_account_guard();
CREATE OR REPLACE TRIGGER account_guard_update BEFORE UPDATE ON ledger_account
    FOR EACH ROW WHEN (pg_trigger_depth() < 1)
    EXECUTE FUNCTION public.zentra_account_guard();
