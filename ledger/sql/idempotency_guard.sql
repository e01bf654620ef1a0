-- A completed posting boundary keeps its answer forever; only replay evidence
-- moves. The WHEN clause is the function's condition, so completing a claim
-- calls no function. docs/ledger-invariants.md.

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

CREATE OR REPLACE TRIGGER idempotency_guard BEFORE UPDATE ON ledger_idempotencyrecord
    FOR EACH ROW WHEN (OLD.completed_at IS NOT NULL AND (
        NEW.key IS DISTINCT FROM OLD.key OR NEW.request_hash IS DISTINCT FROM OLD.request_hash
        OR NEW.response_status IS DISTINCT FROM OLD.response_status
        OR NEW.response_body IS DISTINCT FROM OLD.response_body
        OR NEW.entry_id IS DISTINCT FROM OLD.entry_id OR NEW.outcome IS DISTINCT FROM OLD.outcome
        OR NEW.completed_at IS DISTINCT FROM OLD.completed_at))
    EXECUTE FUNCTION public.zentra_idempotency_guard();
