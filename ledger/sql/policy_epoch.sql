-- Any change to policies or attachments gives the tenant's policy epoch a
-- fresh value of a database-wide sequence, so a posting decided on cached
-- policies can tell they changed. docs/ledger-invariants.md.

CREATE SEQUENCE IF NOT EXISTS public.zentra_policy_epoch_seq;

CREATE OR REPLACE FUNCTION public.zentra_policy_epoch_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Statement level: one bump per statement however many rows it touched.
    EXECUTE format('INSERT INTO %I.ledger_policyepoch (id, epoch) VALUES (1, nextval(''public.zentra_policy_epoch_seq''))
                    ON CONFLICT (id) DO UPDATE SET epoch = EXCLUDED.epoch', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER policy_epoch_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ledger_policy
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_policy_epoch_bump();
CREATE OR REPLACE TRIGGER accountpolicy_epoch_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ledger_accountpolicy
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_policy_epoch_bump();
