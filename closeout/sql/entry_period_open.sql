-- No entry inside a closed or closing accounting period, whoever inserts it;
-- the shared advisory lock orders postings against a period's close.
-- docs/ledger-invariants.md, docs/closeout.md.

CREATE OR REPLACE FUNCTION public.zentra_entry_period_open() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    closed_through timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1515210066, hashtext(TG_TABLE_SCHEMA));
    IF current_schema() = TG_TABLE_SCHEMA THEN
        SELECT p.end_at INTO closed_through FROM closeout_accountingperiod p
         WHERE p.status <> 'open' ORDER BY p.end_at DESC LIMIT 1;
    ELSE
        EXECUTE format('SELECT p.end_at FROM %I.closeout_accountingperiod p
                         WHERE p.status <> ''open'' ORDER BY p.end_at DESC LIMIT 1', TG_TABLE_SCHEMA)
           INTO closed_through;
    END IF;
    IF closed_through IS NOT NULL AND NEW.effective_at < closed_through THEN
        RAISE EXCEPTION 'zentra: entry % has effective_at % inside a closed accounting period (the books are closed through %)',
            NEW.idempotency_key, NEW.effective_at, closed_through
            USING ERRCODE = 'ZP001';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER ledgerentry_period_open BEFORE INSERT ON ledger_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION public.zentra_entry_period_open();
