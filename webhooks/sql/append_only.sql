-- The event outbox and the record of delivery attempts are append-only.
-- docs/ledger-invariants.md.

CREATE OR REPLACE TRIGGER webhooks_event_no_update_delete BEFORE UPDATE OR DELETE ON webhooks_event
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER webhooks_event_no_truncate BEFORE TRUNCATE ON webhooks_event
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER webhooks_deliveryattempt_no_update_delete BEFORE UPDATE OR DELETE ON webhooks_deliveryattempt
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
CREATE OR REPLACE TRIGGER webhooks_deliveryattempt_no_truncate BEFORE TRUNCATE ON webhooks_deliveryattempt
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
