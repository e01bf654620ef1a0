-- Sealed period-end snapshots and their balances are evidence: append-only.
-- docs/ledger-invariants.md.

CREATE OR REPLACE TRIGGER closeout_periodsnapshot_no_update_delete BEFORE UPDATE OR DELETE ON closeout_periodsnapshot
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER closeout_periodsnapshot_no_truncate BEFORE TRUNCATE ON closeout_periodsnapshot
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER closeout_periodbalance_no_update_delete BEFORE UPDATE OR DELETE ON closeout_periodbalance
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER closeout_periodbalance_no_truncate BEFORE TRUNCATE ON closeout_periodbalance
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
