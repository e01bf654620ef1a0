-- The refusal behind every append-only table: UPDATE, DELETE or TRUNCATE raises
-- (restrict_violation), whoever runs it. Shared by audit, ledger, closeout and
-- webhooks tables; docs/ledger-invariants.md.

CREATE OR REPLACE FUNCTION public.zentra_refuse_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'zentra: % on %.% is refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
