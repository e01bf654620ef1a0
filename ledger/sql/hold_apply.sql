-- The one place pending balances change: validates every hold transition and
-- writes the pending history (ledger_holdmovement). docs/ledger-invariants.md.

CREATE OR REPLACE FUNCTION public.zentra_hold_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_old_remaining bigint := 0;
    v_new_remaining bigint;
    v_cap bigint := 0;
    v_rel bigint := 0;
    v_pending bigint;
    v_currency text;
    v_status text;
    v_normal text;
    v_kind text;
    v_moved bigint;
BEGIN
    -- AFTER trigger: the hold row exists, so history rows can reference it.
    v_new_remaining := NEW.amount_minor - NEW.captured_minor - NEW.released_minor;
    IF TG_OP = 'INSERT' THEN
        IF NEW.captured_minor <> 0 OR NEW.released_minor <> 0 OR NEW.status <> 'active' OR NEW.last_entry_id IS NOT NULL THEN
            RAISE EXCEPTION 'zentra: a hold starts active, with nothing captured or released'
                USING ERRCODE = 'check_violation';
        END IF;
    ELSE
        IF NEW.account_id <> OLD.account_id OR NEW.amount_minor <> OLD.amount_minor OR NEW.currency <> OLD.currency
           OR NEW.destination_id IS DISTINCT FROM OLD.destination_id OR NEW.idempotency_key <> OLD.idempotency_key
           OR NEW.hold_id <> OLD.hold_id OR NEW.created_at <> OLD.created_at THEN
            RAISE EXCEPTION 'zentra: hold %: account, amount, currency, destination and key are fixed', OLD.hold_id
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF OLD.status NOT IN ('active', 'partially_captured') AND (
            NEW.status <> OLD.status OR NEW.captured_minor <> OLD.captured_minor
            OR NEW.released_minor <> OLD.released_minor OR NEW.last_entry_id IS DISTINCT FROM OLD.last_entry_id) THEN
            RAISE EXCEPTION 'zentra: hold % is %; a closed hold never changes', OLD.hold_id, OLD.status
                USING ERRCODE = 'restrict_violation';
        END IF;
        v_cap := NEW.captured_minor - OLD.captured_minor;
        v_rel := NEW.released_minor - OLD.released_minor;
        IF v_cap < 0 OR v_rel < 0 THEN
            RAISE EXCEPTION 'zentra: hold %: captured and released amounts only grow', OLD.hold_id
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF v_cap = 0 AND NEW.last_entry_id IS DISTINCT FROM OLD.last_entry_id THEN
            RAISE EXCEPTION 'zentra: hold %: last_entry changes only with a capture', OLD.hold_id
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF v_cap = 0 AND v_rel = 0 THEN
            RETURN NULL;
        END IF;
        v_old_remaining := OLD.amount_minor - OLD.captured_minor - OLD.released_minor;
    END IF;
    EXECUTE format(
        'UPDATE %I.ledger_account SET pending_balance = pending_balance + $1 WHERE id = $2
         RETURNING pending_balance, currency, status, normal_side', TG_TABLE_SCHEMA)
        INTO v_pending, v_currency, v_status, v_normal
        USING v_new_remaining - v_old_remaining, NEW.account_id;
    IF TG_OP = 'INSERT' THEN
        IF v_currency <> NEW.currency THEN
            RAISE EXCEPTION 'zentra: hold currency % differs from account currency %', NEW.currency, v_currency
                USING ERRCODE = 'check_violation';
        END IF;
        IF v_status = 'closed' THEN
            RAISE EXCEPTION 'zentra: account % is closed', NEW.account_id USING ERRCODE = 'check_violation';
        END IF;
        EXECUTE format(
            'INSERT INTO %I.ledger_holdmovement (hold_id, account_id, kind, amount_minor, pending_delta, pending_after, at)
             VALUES ($1, $2, ''created'', $3, $3, $4, clock_timestamp())', TG_TABLE_SCHEMA)
            USING NEW.id, NEW.account_id, NEW.amount_minor, v_pending;
        RETURN NULL;
    END IF;
    IF v_cap > 0 THEN
        -- Captured money is posted money: the new capture entry must move
        -- exactly v_cap out of the held account.
        IF NEW.last_entry_id IS NULL OR NEW.last_entry_id IS NOT DISTINCT FROM OLD.last_entry_id THEN
            RAISE EXCEPTION 'zentra: hold %: a capture needs its own capture entry', OLD.hold_id
                USING ERRCODE = 'restrict_violation';
        END IF;
        EXECUTE format(
            'SELECT e.kind, (SELECT coalesce(sum(CASE WHEN l.side = $3 THEN -l.amount_minor ELSE l.amount_minor END), 0)
                               FROM %1$I.ledger_ledgerline l WHERE l.entry_id = e.id AND l.account_id = $2)
               FROM %1$I.ledger_ledgerentry e WHERE e.id = $1', TG_TABLE_SCHEMA)
            INTO v_kind, v_moved USING NEW.last_entry_id, NEW.account_id, v_normal;
        IF v_kind IS DISTINCT FROM 'hold_capture' OR v_moved <> v_cap THEN
            RAISE EXCEPTION 'zentra: hold %: capture of % needs a hold_capture entry moving it out of the account (entry %: %, %)',
                OLD.hold_id, v_cap, NEW.last_entry_id, v_kind, v_moved USING ERRCODE = 'check_violation';
        END IF;
        EXECUTE format(
            'INSERT INTO %I.ledger_holdmovement (hold_id, account_id, kind, amount_minor, pending_delta, pending_after, entry_id, at)
             VALUES ($1, $2, ''captured'', $3, -$3, $4, $5, clock_timestamp())', TG_TABLE_SCHEMA)
            USING NEW.id, NEW.account_id, v_cap, v_pending + v_rel, NEW.last_entry_id;
    END IF;
    IF v_rel > 0 THEN
        EXECUTE format(
            'INSERT INTO %I.ledger_holdmovement (hold_id, account_id, kind, amount_minor, pending_delta, pending_after, at)
             VALUES ($1, $2, $3, $4, -$4, $5, clock_timestamp())', TG_TABLE_SCHEMA)
            USING NEW.id, NEW.account_id, CASE WHEN NEW.status = 'expired' THEN 'expired' ELSE 'released' END,
                  v_rel, v_pending;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER hold_apply AFTER INSERT OR UPDATE ON ledger_hold
    FOR EACH ROW EXECUTE FUNCTION public.zentra_hold_apply();
