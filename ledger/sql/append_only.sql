-- What the ledger never updates or deletes: entries, lines, policy versions and
-- hold movements are append-only; accounts, idempotency records, holds and
-- approval requests may change (their guards say how) but are never deleted.
-- docs/ledger-invariants.md.

CREATE OR REPLACE TRIGGER ledger_ledgerentry_no_update_delete BEFORE UPDATE OR DELETE ON ledger_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_ledgerentry_no_truncate BEFORE TRUNCATE ON ledger_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_ledgerline_no_update_delete BEFORE UPDATE OR DELETE ON ledger_ledgerline
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_ledgerline_no_truncate BEFORE TRUNCATE ON ledger_ledgerline
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_policy_no_update_delete BEFORE UPDATE OR DELETE ON ledger_policy
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_policy_no_truncate BEFORE TRUNCATE ON ledger_policy
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_holdmovement_no_update_delete BEFORE UPDATE OR DELETE ON ledger_holdmovement
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER ledger_holdmovement_no_truncate BEFORE TRUNCATE ON ledger_holdmovement
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER account_no_delete BEFORE DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER account_no_truncate BEFORE TRUNCATE ON ledger_account
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER idempotency_no_delete BEFORE DELETE ON ledger_idempotencyrecord
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER idempotency_no_truncate BEFORE TRUNCATE ON ledger_idempotencyrecord
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER hold_no_delete BEFORE DELETE ON ledger_hold
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER hold_no_truncate BEFORE TRUNCATE ON ledger_hold
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER approval_no_delete BEFORE DELETE ON ledger_approvalrequest
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER approval_no_truncate BEFORE TRUNCATE ON ledger_approvalrequest
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
