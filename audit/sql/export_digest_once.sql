-- An export's only change is recording its digest, once; it is never deleted
-- or truncated. docs/ledger-invariants.md.

CREATE OR REPLACE FUNCTION public.zentra_export_digest_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The only change an export may see is its digest being recorded, once:
    -- a manifest that could be rewritten would prove nothing.
    IF TG_OP = 'UPDATE' AND OLD.sha256 IS NULL AND NEW.sha256 IS NOT NULL
       AND (NEW.id, NEW.kind, NEW.filters, NEW.exporter, NEW.correlation_id, NEW.created_at,
            NEW.chain_head_seq, NEW.chain_head_hash, NEW.max_row_id)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.kind, OLD.filters, OLD.exporter, OLD.correlation_id, OLD.created_at,
            OLD.chain_head_seq, OLD.chain_head_hash, OLD.max_row_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'zentra: % on %.% is refused: an export is immutable once its digest is recorded',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE OR REPLACE TRIGGER audit_export_digest_once BEFORE UPDATE OR DELETE ON audit_export
    FOR EACH ROW EXECUTE FUNCTION public.zentra_export_digest_once();
CREATE OR REPLACE TRIGGER audit_export_no_truncate BEFORE TRUNCATE ON audit_export
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
