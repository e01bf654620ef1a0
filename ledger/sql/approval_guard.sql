-- Maker-checker evidence: what was requested never changes and a decided
-- request is frozen. docs/ledger-invariants.md.

CREATE OR REPLACE FUNCTION public.zentra_approval_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A decision is evidence: once a request left 'pending' nothing about it
    -- may change, whoever issues the UPDATE.
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'zentra: approval request % is decided (%) and immutable', OLD.public_id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.public_id IS DISTINCT FROM OLD.public_id OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
       OR NEW.request_hash IS DISTINCT FROM OLD.request_hash OR NEW.payload IS DISTINCT FROM OLD.payload
       OR NEW.amount_minor IS DISTINCT FROM OLD.amount_minor OR NEW.currency IS DISTINCT FROM OLD.currency
       OR NEW.requested_by IS DISTINCT FROM OLD.requested_by OR NEW.requested_at IS DISTINCT FROM OLD.requested_at THEN
        RAISE EXCEPTION 'zentra: what was requested cannot change; only the decision is recorded'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER approval_guard BEFORE UPDATE ON ledger_approvalrequest
    FOR EACH ROW EXECUTE FUNCTION public.zentra_approval_guard();
