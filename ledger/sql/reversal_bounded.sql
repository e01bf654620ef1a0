-- The reversals of an entry never undo more than it moved, checked at commit
-- under a lock on the original entry. A constraint trigger cannot be replaced
-- in place, so it is dropped and created again. docs/ledger-invariants.md.

CREATE OR REPLACE FUNCTION public.zentra_reversal_bounded() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_account bigint;
    v_side text;
    v_reversed numeric;
    v_original numeric;
BEGIN
    -- Serialize the commit-time checks of concurrent reversals of one entry:
    -- the next statement's snapshot then sees every reversal committed before.
    EXECUTE format('SELECT 1 FROM %I.ledger_ledgerentry WHERE id = $1 FOR UPDATE', TG_TABLE_SCHEMA)
        USING NEW.reversal_of_id;
    EXECUTE format(
        'WITH orig AS (
             SELECT account_id, side, currency, sum(amount_minor) AS amt
               FROM %1$I.ledger_ledgerline WHERE entry_id = $1 GROUP BY 1, 2, 3),
         rev AS (
             SELECT l.account_id, CASE WHEN l.side = ''debit'' THEN ''credit'' ELSE ''debit'' END AS side, l.currency,
                    sum(l.amount_minor) AS amt
               FROM %1$I.ledger_ledgerline l JOIN %1$I.ledger_ledgerentry e ON e.id = l.entry_id
              WHERE e.reversal_of_id = $1 GROUP BY 1, 2, 3)
         SELECT rev.account_id, rev.side, rev.amt, coalesce(orig.amt, 0)
           FROM rev LEFT JOIN orig USING (account_id, side, currency)
          WHERE rev.amt > coalesce(orig.amt, 0) LIMIT 1', TG_TABLE_SCHEMA)
        INTO v_account, v_side, v_reversed, v_original USING NEW.reversal_of_id;
    IF v_account IS NOT NULL THEN
        RAISE EXCEPTION 'zentra: reversals of entry % undo % on the % side of account %, the entry moved %',
            NEW.reversal_of_id, v_reversed, v_side, v_account, v_original USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS ledgerentry_reversal_bounded ON ledger_ledgerentry;
CREATE CONSTRAINT TRIGGER ledgerentry_reversal_bounded AFTER INSERT ON ledger_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.reversal_of_id IS NOT NULL)
    EXECUTE FUNCTION public.zentra_reversal_bounded();
