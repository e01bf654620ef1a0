-- Pending history rows come from the hold trigger only. docs/ledger-invariants.md.

CREATE OR REPLACE FUNCTION public.zentra_holdmovement_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Depth 1 is a client statement; the hold trigger inserts at depth 2.
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'zentra: hold movements are written by the hold trigger only'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER holdmovement_only_from_hold BEFORE INSERT ON ledger_holdmovement
    FOR EACH ROW EXECUTE FUNCTION public.zentra_holdmovement_guard();
