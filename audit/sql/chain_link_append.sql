-- New chain links extend the head without gaps and each hash covers its
-- predecessor, checked once per statement over the transition table.
-- docs/ledger-invariants.md, docs/audit.md.

CREATE OR REPLACE FUNCTION public.zentra_chain_links_extend_head() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_first bigint;
    v_last bigint;
    v_count bigint;
    v_head bigint;
    v_bad bigint;
BEGIN
    -- Once per statement over the transition table, not once per row: the
    -- sealer appends thousands of links per COPY.
    SELECT min(seq), max(seq), count(*) INTO v_first, v_last, v_count FROM new_links;
    IF v_count = 0 THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT max(seq) FROM %I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO v_head;
    IF v_last <> v_head OR v_last - v_first + 1 <> v_count THEN
        RAISE EXCEPTION 'zentra: chain links % to % do not extend the head (%) without gaps', v_first, v_last, v_head
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    EXECUTE format($q$
        SELECT n.seq FROM new_links n
        -- A correlated lookup (one index probe per new link): a join would
        -- let the planner hash the whole chain for every batch.
        WHERE n.prev_hash IS DISTINCT FROM (CASE WHEN n.seq = 1 THEN repeat('0', 64)
                                                 ELSE (SELECT p.hash FROM %I.%I p WHERE p.seq = n.seq - 1) END)
           OR n.content_hash !~ '^[0-9a-f]{64}$'
           OR n.hash <> encode(sha256(convert_to(n.prev_hash || n.content_hash || n.seq::text, 'UTF8')), 'hex')
        ORDER BY n.seq LIMIT 1 $q$, TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO v_bad;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'zentra: chain link % is not sha256(prev_hash || content_hash || seq) over its predecessor', v_bad
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER audit_chainlink_append AFTER INSERT ON audit_chainlink
    REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_chain_links_extend_head();
