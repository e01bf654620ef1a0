-- Not triggers: the two functions the posting write calls when it locks
-- accounts its claim only read (docs/ledger.md, "The late lock";
-- docs/ledger-invariants.md).

CREATE OR REPLACE FUNCTION public.zentra_payload_rebase(p jsonb, moved jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
-- PL/pgSQL, not SQL: a SQL function with subqueries is parsed and planned
-- again on every call (an eighth of the backend's time on a busy account);
-- PL/pgSQL keeps its expression plans for the session.
DECLARE
    i int;
    x jsonb;
    m jsonb;
BEGIN
    FOR i IN 0 .. coalesce(jsonb_array_length(p -> 'lines'), 0) - 1 LOOP
        x := p -> 'lines' -> i;
        m := moved -> (x ->> 'account_id');
        IF m IS NOT NULL THEN
            p := jsonb_set(p, ARRAY['lines', i::text, 'balance_after'],
                           to_jsonb((x ->> 'balance_after')::bigint + (m ->> 0)::bigint));
        END IF;
    END LOOP;
    FOR i IN 0 .. coalesce(jsonb_array_length(p -> 'balances'), 0) - 1 LOOP
        x := p -> 'balances' -> i;
        m := moved -> (x ->> 'account_id');
        IF m IS NOT NULL THEN
            p := jsonb_set(p, ARRAY['balances', i::text], x || jsonb_build_object(
                'posted', (x ->> 'posted')::bigint + (m ->> 0)::bigint,
                'pending', (x ->> 'pending')::bigint + (m ->> 1)::bigint,
                'available', (x ->> 'available')::bigint + (m ->> 0)::bigint - (m ->> 1)::bigint));
        END IF;
    END LOOP;
    RETURN p;
END
$$;

CREATE OR REPLACE FUNCTION public.zentra_posting_stale() RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'zentra: an account changed between the posting''s read and its lock; retry'
        USING ERRCODE = 'serialization_failure';
END
$$;
