"""Two helpers for the posting path's late lock (ledger.services.entries._late_lock_cte).

A plain posting's claim reads its accounts without locking those no policy
decision rests on; the entry's one write statement locks them. Between the
read and the lock, other postings may have moved their balances, so:

- zentra_payload_rebase(payload, moved) adds each account's move since the
  read ({"<account id>": [posted, pending]}) to the response payload's
  lines (balance_after) and balances (posted, pending, available). The line
  trigger stamps the stored lines from the locked rows themselves; this
  keeps the answer (and the event, and the body a replay returns) equal to
  what was stored.
- zentra_posting_stale() raises a serialization failure when something a
  decision rested on changed (an account frozen, closed or re-currencied
  between the read and the lock). The service retries the whole
  transaction, which then decides on what is there now.

Both live in `public`, like the triggers' functions, and are replaced in
place by every tenant schema's run of this migration.
"""
from django.db import migrations

FUNCTIONS = r"""
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
"""


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0007_posting_indexes"),
    ]

    # Reversing leaves the functions: they are shared by every tenant schema.
    operations = [migrations.RunSQL(FUNCTIONS, reverse_sql=migrations.RunSQL.noop)]
