-- At commit, each entry has exactly its declared line_count (>= 2) lines and
-- they balance per currency. A constraint trigger cannot be replaced in place,
-- so it is dropped and created again. docs/ledger-invariants.md.

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

DROP TRIGGER IF EXISTS ledgerentry_balanced ON ledger_ledgerentry;
CREATE CONSTRAINT TRIGGER ledgerentry_balanced AFTER INSERT ON ledger_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.zentra_entry_balanced();
