-- Audit events and sealed chain links are append-only: evidence that could be
-- rewritten would prove nothing. docs/ledger-invariants.md.

CREATE OR REPLACE TRIGGER audit_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER audit_chainlink_no_update_delete BEFORE UPDATE OR DELETE ON audit_chainlink
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER audit_chainlink_no_truncate BEFORE TRUNCATE ON audit_chainlink
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
