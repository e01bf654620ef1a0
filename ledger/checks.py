"""`ledger_check`: recompute every ledger invariant from the rows themselves.

The triggers prevent violations; this proves, after the fact and for any
tenant, that none slipped through (a disabled trigger, a restore gone wrong,
a bug). It only reads (with seal=True, as the command runs it, the chain check
first seals records that committed since the last seal, as verify_chain does).

Every check is one set-based query returning offending rows (the first
column names the record), so a tenant with 100k lines is checked in seconds.
Queries may use %(tenant_id)s, %(tenant_slug)s and %(grace)s (an interval:
how long a transaction may take between stamping its rows and committing;
history-based checks only judge what was settled longer ago than that).
docs/ledger-invariants.md lists every check and what it proves.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from django.conf import settings
from django.db import connection
from audit.services.chain import chain_verify
from audit.chain import sealables
from audit.models import ChainLink
from tenants.selectors import tenant_current


@dataclass(frozen=True)
class Violation:
    check: str
    detail: str


# Each check is one query returning offending rows; the first column names the record.
CHECKS: list[tuple[str, str, str]] = [
    ("entry_has_two_lines", "entry {0} has {1} lines (declared {2})", """
        SELECT e.id, count(l.id), e.line_count FROM ledger_ledgerentry e
        LEFT JOIN ledger_ledgerline l ON l.entry_id = e.id
        GROUP BY e.id HAVING count(l.id) < 2 OR count(l.id) <> e.line_count"""),
    ("entry_balanced_per_currency", "entry {0} in {1}: debits - credits = {2}", """
        SELECT entry_id, currency, sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END)
        FROM ledger_ledgerline GROUP BY entry_id, currency
        HAVING sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END) <> 0"""),
    ("ledger_balanced_per_currency", "whole ledger in {0}: debits - credits = {1}", """
        SELECT currency, sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END)
        FROM ledger_ledgerline GROUP BY currency
        HAVING sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END) <> 0"""),
    ("amount_positive", "line {0} has amount {1}", "SELECT id, amount_minor FROM ledger_ledgerline WHERE amount_minor <= 0"),
    ("line_currency_matches_account", "line {0} is {1}, account {2} is {3}", """
        SELECT l.id, l.currency, a.code, a.currency FROM ledger_ledgerline l
        JOIN ledger_account a ON a.id = l.account_id WHERE l.currency <> a.currency"""),
    ("stored_balance_equals_lines", "account {0}: stored posted {1}, debits {2}, credits {3}, lines {4}; "
     "from lines posted {5}, debits {6}, credits {7}, lines {8}", """
        SELECT a.code, a.posted_balance, a.debits_total, a.credits_total, a.lines_count,
               coalesce(sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END), 0),
               coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'debit'), 0),
               coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'credit'), 0),
               count(l.id)
        FROM ledger_account a LEFT JOIN ledger_ledgerline l ON l.account_id = a.id
        GROUP BY a.id
        HAVING a.posted_balance <> coalesce(sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END), 0)
            OR a.debits_total <> coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'debit'), 0)
            OR a.credits_total <> coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'credit'), 0)
            OR a.lines_count <> count(l.id)"""),
    ("running_balance_chain", "line {0} of account {1}: balance_after {2}, expected {3}", """
        SELECT id, code, balance_after, expected FROM (
            SELECT l.id, a.code, l.balance_after,
                   sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END)
                       OVER (PARTITION BY l.account_id ORDER BY l.id) AS expected
            FROM ledger_ledgerline l JOIN ledger_account a ON a.id = l.account_id) s
        WHERE balance_after IS DISTINCT FROM expected"""),
    ("one_posting_per_key", "idempotency key {0} has {1} entries", """
        SELECT idempotency_key, count(*) FROM ledger_ledgerentry GROUP BY idempotency_key HAVING count(*) > 1"""),
    ("entry_has_boundary_record", "entry {0} (key {1}) has no idempotency record pointing at it", """
        SELECT e.id, e.idempotency_key FROM ledger_ledgerentry e
        LEFT JOIN ledger_idempotencyrecord r ON r.key = e.idempotency_key AND r.entry_id = e.id
        WHERE r.id IS NULL"""),
    ("boundary_record_complete", "idempotency key {0}: outcome {1!r} but entry {2}", """
        SELECT key, outcome, entry_id FROM ledger_idempotencyrecord
        WHERE completed_at IS NOT NULL AND ((outcome = 'posted') <> (entry_id IS NOT NULL))"""),
    ("no_negative_where_forbidden", "account {0}: available {1} below -{2} (policy {3} v{4})", """
        WITH p AS (SELECT DISTINCT ON (name) * FROM ledger_policy ORDER BY name, version DESC)
        SELECT a.code, a.available_balance, coalesce((p.params->>'overdraft_limit_minor')::bigint, 0), p.name, p.version
        FROM ledger_account a JOIN p ON p.kind = 'no_negative_available' AND p.active
        WHERE (p.applies_to_all OR EXISTS (SELECT 1 FROM ledger_accountpolicy ap
                                           WHERE ap.account_id = a.id AND ap.policy_name = p.name))
          AND a.available_balance < -coalesce((p.params->>'overdraft_limit_minor')::bigint, 0)
          -- Below the limit is only a violation if something lowered the
          -- account after this version (and its attachment) took effect: a
          -- policy attached to an account already overdrawn forbids the next
          -- withdrawal, it does not make the past one wrong. An entry lowers
          -- the account when its lines on it net below zero: one that moves
          -- money out of the account and back in (a line on each side) does
          -- not, and the policy passes it.
          AND EXISTS (
              SELECT 1 FROM ledger_ledgerline l JOIN ledger_ledgerentry e ON e.id = l.entry_id
              WHERE l.account_id = a.id AND e.kind <> 'hold_capture'
                AND e.created_at >= greatest(p.created_at, coalesce((SELECT max(ap.created_at) FROM ledger_accountpolicy ap
                        WHERE ap.account_id = a.id AND ap.policy_name = p.name), p.created_at))
              GROUP BY l.entry_id
              HAVING sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END) < 0
              UNION ALL
              SELECT 1 FROM ledger_hold h WHERE h.account_id = a.id
                AND h.created_at >= greatest(p.created_at, coalesce((SELECT max(ap.created_at) FROM ledger_accountpolicy ap
                        WHERE ap.account_id = a.id AND ap.policy_name = p.name), p.created_at)))"""),
    # --- holds and reversals (0003_lifecycle) ---
    ("pending_equals_open_holds", "account {0}: stored pending {1}, open holds reserve {2}", """
        SELECT a.code, a.pending_balance, coalesce(sum(h.amount_minor - h.captured_minor - h.released_minor), 0)
        FROM ledger_account a LEFT JOIN ledger_hold h ON h.account_id = a.id
        GROUP BY a.id
        HAVING a.pending_balance <> coalesce(sum(h.amount_minor - h.captured_minor - h.released_minor), 0)"""),
    ("hold_status_matches_amounts", "hold {0} is {1} with {2} of {3} captured and {4} released", """
        SELECT hold_id, status, captured_minor, amount_minor, released_minor FROM ledger_hold
        WHERE (status IN ('active', 'partially_captured')) <> (captured_minor + released_minor < amount_minor)"""),
    ("hold_movements_sum", "hold {0}: movements say captured {1}, released {2}; the row says {3}, {4}", """
        SELECT h.hold_id, coalesce(sum(m.amount_minor) FILTER (WHERE m.kind = 'captured'), 0),
               coalesce(sum(m.amount_minor) FILTER (WHERE m.kind IN ('released', 'expired')), 0),
               h.captured_minor, h.released_minor
        FROM ledger_hold h LEFT JOIN ledger_holdmovement m ON m.hold_id = h.id
        GROUP BY h.id
        HAVING coalesce(sum(m.amount_minor) FILTER (WHERE m.kind = 'captured'), 0) <> h.captured_minor
            OR coalesce(sum(m.amount_minor) FILTER (WHERE m.kind IN ('released', 'expired')), 0) <> h.released_minor
            OR coalesce(sum(m.amount_minor) FILTER (WHERE m.kind = 'created'), 0) <> h.amount_minor"""),
    ("pending_running_chain", "hold movement {0} of account {1}: pending_after {2}, expected {3}", """
        SELECT id, code, pending_after, expected FROM (
            SELECT m.id, a.code, m.pending_after,
                   sum(m.pending_delta) OVER (PARTITION BY m.account_id ORDER BY m.id) AS expected
            FROM ledger_holdmovement m JOIN ledger_account a ON a.id = m.account_id) s
        WHERE pending_after <> expected"""),
    ("capture_backed_by_entry", "hold movement {0} captured {1} but entry {2} ({3}) moved {4} out of the account", """
        SELECT m.id, m.amount_minor, m.entry_id, e.kind,
               coalesce(sum(CASE WHEN l.side = a.normal_side THEN -l.amount_minor ELSE l.amount_minor END), 0)
        FROM ledger_holdmovement m JOIN ledger_account a ON a.id = m.account_id
        LEFT JOIN ledger_ledgerentry e ON e.id = m.entry_id
        LEFT JOIN ledger_ledgerline l ON l.entry_id = m.entry_id AND l.account_id = m.account_id
        WHERE m.kind = 'captured'
        GROUP BY m.id, m.amount_minor, m.entry_id, e.kind
        HAVING e.kind IS DISTINCT FROM 'hold_capture'
            OR coalesce(sum(CASE WHEN l.side = a.normal_side THEN -l.amount_minor ELSE l.amount_minor END), 0)
               <> m.amount_minor"""),
    ("reversal_linked", "entry {0} is kind {1} with reversal_of {2}", """
        SELECT id, kind, reversal_of_id FROM ledger_ledgerentry
        WHERE (kind = 'reversal') <> (reversal_of_id IS NOT NULL)"""),
    ("reversals_within_original", "entry {0}: reversals undo {1} on the {2} side of account {3}; it moved {4}", """
        WITH rev AS (
            SELECT e.reversal_of_id AS orig, l.account_id, l.currency,
                   CASE WHEN l.side = 'debit' THEN 'credit' ELSE 'debit' END AS side, sum(l.amount_minor) AS amt
            FROM ledger_ledgerentry e JOIN ledger_ledgerline l ON l.entry_id = e.id
            WHERE e.reversal_of_id IS NOT NULL GROUP BY 1, 2, 3, 4),
        orig AS (
            SELECT l.entry_id AS orig, l.account_id, l.currency, l.side, sum(l.amount_minor) AS amt
            FROM ledger_ledgerline l WHERE l.entry_id IN (SELECT orig FROM rev) GROUP BY 1, 2, 3, 4)
        SELECT rev.orig, rev.amt, rev.side, a.code, coalesce(orig.amt, 0)
        FROM rev LEFT JOIN orig USING (orig, account_id, currency, side) JOIN ledger_account a ON a.id = rev.account_id
        WHERE rev.amt > coalesce(orig.amt, 0)"""),
]

# Proof under faults: balances per column, policy
# history, the posting boundary, append-only evidence, isolation, webhooks.
CHECKS += [
    ("line_has_entry_and_account", "line {0} names entry {1} / account {2}, which do not exist (deleted rows)", """
        SELECT l.id, l.entry_id, l.account_id FROM ledger_ledgerline l
        LEFT JOIN ledger_ledgerentry e ON e.id = l.entry_id LEFT JOIN ledger_account a ON a.id = l.account_id
        WHERE e.id IS NULL OR a.id IS NULL"""),
    # An entry that lowered an account's available balance while a
    # no-negative policy version was in force for it (attached by name, or
    # applies_to_all) must carry a passing decision of that policy for that
    # account: otherwise it was written around the policy engine. Versions
    # and attachments younger than the grace window are not judged (a
    # posting may have read the policies just before they committed).
    ("no_negative_policy_evaluated", "entry {0} lowered account {1} by {2} without a passing decision of "
     "policy {3} v{4} (in force when it was posted)", """
        WITH nn AS (SELECT DISTINCT name FROM ledger_policy WHERE kind = 'no_negative_available'),
        lowered AS (
            SELECT l.entry_id, l.account_id, sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor
                                                      ELSE -l.amount_minor END) AS delta
            FROM ledger_ledgerline l JOIN ledger_account a ON a.id = l.account_id
            WHERE EXISTS (SELECT 1 FROM nn)
            GROUP BY 1, 2 HAVING sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END) < 0),
        in_force AS (
            SELECT DISTINCT ON (lw.entry_id, lw.account_id, p.name)
                   lw.entry_id, lw.account_id, lw.delta, e.created_at AS at, e.policy_decisions,
                   p.name, p.version, p.kind, p.active, p.applies_to_all
            FROM lowered lw JOIN ledger_ledgerentry e ON e.id = lw.entry_id AND e.kind <> 'hold_capture'
            JOIN ledger_policy p ON p.name IN (SELECT name FROM nn) AND p.created_at <= e.created_at - %(grace)s
            ORDER BY lw.entry_id, lw.account_id, p.name, p.version DESC)
        SELECT f.entry_id, a.code, -f.delta, f.name, f.version FROM in_force f JOIN ledger_account a ON a.id = f.account_id
        WHERE f.kind = 'no_negative_available' AND f.active
          AND (f.applies_to_all OR EXISTS (SELECT 1 FROM ledger_accountpolicy ap WHERE ap.account_id = f.account_id
                                           AND ap.policy_name = f.name AND ap.created_at <= f.at - %(grace)s))
          AND NOT f.policy_decisions @> jsonb_build_array(jsonb_build_object(
                'policy', f.name, 'account', a.code, 'rule', 'no_negative_available', 'decision', 'pass'))"""),
    ("hold_policy_evaluated", "hold {0} reserved {1} on account {2} without a passing decision of policy {3} v{4}", """
        WITH in_force AS (
            SELECT DISTINCT ON (h.id, p.name) h.id, h.hold_id, h.amount_minor, h.account_id, h.created_at AS at,
                   h.policy_decisions, p.name, p.version, p.kind, p.active, p.applies_to_all
            FROM ledger_hold h
            JOIN ledger_policy p ON p.name IN (SELECT name FROM ledger_policy WHERE kind = 'no_negative_available')
                                AND p.created_at <= h.created_at - %(grace)s
            ORDER BY h.id, p.name, p.version DESC)
        SELECT f.hold_id, f.amount_minor, a.code, f.name, f.version FROM in_force f JOIN ledger_account a ON a.id = f.account_id
        WHERE f.kind = 'no_negative_available' AND f.active
          AND (f.applies_to_all OR EXISTS (SELECT 1 FROM ledger_accountpolicy ap WHERE ap.account_id = f.account_id
                                           AND ap.policy_name = f.name AND ap.created_at <= f.at - %(grace)s))
          AND NOT f.policy_decisions @> jsonb_build_array(jsonb_build_object(
                'policy', f.name, 'account', a.code, 'rule', 'no_negative_available', 'decision', 'pass'))"""),
    ("policy_decision_consistent", "entry {0}: policy {1} v{2} passed account {3} with available_after {4} "
     "below -{5}", """
        SELECT e.id, d->>'policy', d->>'version', d->>'account', d->>'available_after', d->>'overdraft_limit_minor'
        FROM ledger_ledgerentry e CROSS JOIN LATERAL jsonb_array_elements(
            CASE WHEN jsonb_typeof(e.policy_decisions) = 'array' THEN e.policy_decisions ELSE '[]'::jsonb END) d
        WHERE d->>'rule' = 'no_negative_available' AND d->>'decision' = 'pass'
          AND (d->>'available_after')::bigint < -(d->>'overdraft_limit_minor')::bigint"""),
    # --- the posting boundary ---
    ("boundary_record_matches_entry", "idempotency key {0} points at entry {1}, whose key is {2}", """
        SELECT r.key, r.entry_id, coalesce(e.idempotency_key, '(no such entry: deleted)')
        FROM ledger_idempotencyrecord r LEFT JOIN ledger_ledgerentry e ON e.id = r.entry_id
        WHERE r.entry_id IS NOT NULL AND (e.id IS NULL OR e.idempotency_key <> r.key)"""),
    ("boundary_response_matches_entry", "idempotency key {0}: the remembered response names posting {1} "
     "(tenant {2}); the entry is {3}", """
        SELECT r.key, r.response_body->>'posting_id', r.response_body->>'tenant', e.posting_id
        FROM ledger_idempotencyrecord r JOIN ledger_ledgerentry e ON e.id = r.entry_id
        WHERE r.outcome = 'posted' AND jsonb_typeof(r.response_body) = 'object'
          AND r.response_body ? 'posting_id'
          AND (r.response_body->>'posting_id' IS DISTINCT FROM e.posting_id
               OR (r.response_body ? 'tenant' AND r.response_body->>'tenant' <> %(tenant_slug)s))"""),
    # --- append-only: what proves a row was deleted or rewritten (id gaps
    # do not: sequences skip on every rollback) ---
    ("posting_evidence_has_entry", "audit event {0} ({1}) records entry {2}, which does not exist", """
        SELECT ae.id, ae.action, ae.target_id FROM audit_auditevent ae
        WHERE ae.target_type = 'ledger_entry' AND ae.action LIKE 'ledger_entry.%%'
          AND NOT EXISTS (SELECT 1 FROM ledger_ledgerentry e
                          WHERE e.id = CASE WHEN ae.target_id ~ '^[0-9]{1,18}$' THEN ae.target_id::bigint END)"""),
    ("event_entry_exists", "event {0} ({1}) announces entry {2} / {3}, which is not in this tenant's ledger", """
        SELECT ev.public_id, ev.type, ev.payload->>'id', ev.payload->>'posting_id' FROM webhooks_event ev
        LEFT JOIN ledger_ledgerentry e ON e.posting_id = ev.payload->>'posting_id'
        WHERE ev.payload->>'object' = 'ledger_entry' AND ev.payload ? 'posting_id'
          AND (e.id IS NULL OR e.id::text IS DISTINCT FROM ev.payload->>'id')"""),
    ("referenced_entries_exist", "{0} {1} references entry {2}, which does not exist", """
        SELECT 'hold movement', m.id, m.entry_id FROM ledger_holdmovement m
        WHERE m.entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_ledgerentry e WHERE e.id = m.entry_id)
        UNION ALL
        SELECT 'hold', h.id, h.last_entry_id FROM ledger_hold h
        WHERE h.last_entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_ledgerentry e WHERE e.id = h.last_entry_id)
        UNION ALL
        SELECT 'reversal', r.id, r.reversal_of_id FROM ledger_ledgerentry r
        WHERE r.reversal_of_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_ledgerentry e WHERE e.id = r.reversal_of_id)
        UNION ALL
        SELECT 'reconciliation item', i.id, i.entry_id FROM reconciliation_reconciliationitem i
        WHERE i.entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_ledgerentry e WHERE e.id = i.entry_id)"""),
    ("export_pins_chain_head", "export {0} was pinned to chain seq {1} hash {2}; the chain now has {3} there "
     "(the chain was rewritten or truncated)", """
        SELECT x.id, x.chain_head_seq, x.chain_head_hash, coalesce(l.hash, '(no link)') FROM audit_export x
        LEFT JOIN audit_chainlink l ON l.seq = x.chain_head_seq
        WHERE x.chain_head_seq IS NOT NULL AND l.hash IS DISTINCT FROM x.chain_head_hash"""),
    # --- isolation: nothing in this schema names another tenant's objects ---
    ("actor_key_of_this_tenant", "{0} {1} was made by API key {2}, which belongs to tenant {3}", """
        WITH refs AS (
            SELECT 'entry' AS what, id::text AS ref, actor_ref FROM ledger_ledgerentry WHERE actor_ref LIKE 'api_key:%%'
            UNION ALL SELECT 'hold', hold_id, actor_ref FROM ledger_hold WHERE actor_ref LIKE 'api_key:%%'
            UNION ALL SELECT 'idempotency record', key, actor_ref FROM ledger_idempotencyrecord
                      WHERE actor_ref LIKE 'api_key:%%'
            UNION ALL SELECT 'audit event', id::text, actor_ref FROM audit_auditevent WHERE actor_ref LIKE 'api_key:%%'
            UNION ALL SELECT 'event', public_id, actor_ref FROM webhooks_event WHERE actor_ref LIKE 'api_key:%%'
            UNION ALL SELECT 'export', id::text, exporter FROM audit_export WHERE exporter LIKE 'api_key:%%'),
        keys AS (SELECT DISTINCT actor_ref FROM refs)
        SELECT r.what, r.ref, k.prefix, t.slug FROM keys
        JOIN public.tenants_apikey k ON k.prefix = substr(keys.actor_ref, 9)
        JOIN public.tenants_tenant t ON t.id = k.tenant_id
        JOIN refs r ON r.actor_ref = keys.actor_ref
        WHERE k.tenant_id <> %(tenant_id)s"""),
    ("payload_names_this_tenant", "{0} {1} says tenant {2!r}", """
        SELECT 'event', public_id, payload->>'tenant' FROM webhooks_event
        WHERE payload ? 'tenant' AND payload->>'tenant' <> %(tenant_slug)s
        UNION ALL
        SELECT 'idempotency record', key, response_body->>'tenant' FROM ledger_idempotencyrecord
        WHERE jsonb_typeof(response_body) = 'object' AND response_body ? 'tenant'
          AND response_body->>'tenant' <> %(tenant_slug)s"""),
    ("delivery_refs_exist", "delivery {0} names event {1} / endpoint {2}, which do not exist here", """
        SELECT d.public_id, d.event_id, d.endpoint_id FROM webhooks_delivery d
        LEFT JOIN webhooks_event ev ON ev.id = d.event_id LEFT JOIN webhooks_webhookendpoint ep ON ep.id = d.endpoint_id
        WHERE ev.id IS NULL OR ep.id IS NULL"""),
    # --- webhooks: none silently dropped ---
    # Endpoint configuration over time comes from the audit trail (every
    # create/update/enable/disable records the endpoint's snapshot). An event
    # needs a delivery to every endpoint whose one snapshot covered the whole
    # grace window before the event: enabled, subscribed to a matching
    # pattern. Changes inside the window (commit races) are not judged.
    ("event_fanned_out", "event {0} ({1}, {2}) has no delivery to endpoint {3}, enabled and subscribed since {4}", """
        WITH snaps AS (
            SELECT ep.id AS endpoint_id, ep.public_id, ae.occurred_at AS at, ae.id AS aid,
                   (ae.after->>'enabled')::boolean AS enabled,
                   ARRAY(SELECT jsonb_array_elements_text(ae.after->'event_types')) AS types
            FROM audit_auditevent ae JOIN webhooks_webhookendpoint ep ON ep.public_id = ae.target_id
            WHERE ae.target_type = 'webhook_endpoint' AND ae.after ? 'enabled' AND ae.after ? 'event_types'),
        spans AS (
            SELECT *, lead(at) OVER (PARTITION BY endpoint_id ORDER BY at, aid) AS until FROM snaps)
        SELECT ev.public_id, ev.type, ev.created_at, s.public_id, s.at
        FROM spans s JOIN webhooks_event ev
          ON ev.created_at - %(grace)s >= s.at AND (s.until IS NULL OR s.until > ev.created_at)
        WHERE s.enabled
          AND EXISTS (SELECT 1 FROM unnest(s.types) p WHERE p = '*' OR p = ev.type
                      OR (right(p, 2) = '.*' AND starts_with(ev.type, left(p, -1))))
          AND NOT EXISTS (SELECT 1 FROM webhooks_delivery d WHERE d.event_id = ev.id AND d.endpoint_id = s.endpoint_id)"""),
    # Pending deliveries are picked up by the sweep (status pending,
    # next_attempt_at due, lease absent or expired); a stuck lease is only a
    # loss when nothing would ever pick the row up again.
    ("delivery_not_dropped", "delivery {0} is {1} with next attempt {2}, failed_at {3}, succeeded_at {4}", """
        SELECT public_id, status, next_attempt_at, failed_at, succeeded_at FROM webhooks_delivery
        WHERE status NOT IN ('pending', 'succeeded', 'failed')
           OR (status = 'pending' AND next_attempt_at IS NULL)
           OR (status = 'failed' AND failed_at IS NULL)
           OR (status = 'succeeded' AND succeeded_at IS NULL)"""),
    ("delivery_succeeded_has_attempt", "delivery {0} is succeeded but no attempt succeeded", """
        SELECT d.public_id FROM webhooks_delivery d WHERE d.status = 'succeeded'
          AND NOT EXISTS (SELECT 1 FROM webhooks_deliveryattempt a WHERE a.delivery_id = d.id AND a.outcome = 'succeeded')"""),
]

# Apps that add money state (holds, ...) append their own checks here.
EXTRA_CHECKS: list[tuple[str, str, str]] = []

# Checks that are not one query: (name, fn(limit) -> list of details).
PROCEDURES: list[tuple[str, Callable[..., list[str]]]] = []

GRACE = timedelta(seconds=60)


def _chain_verifies(*, limit: int, seal: bool = True) -> list[str]:
    """The tenant's hash chain recomputed from the current rows: an entry
    or audit event updated or deleted after sealing breaks it."""
    report = chain_verify(seal=seal)
    if report.ok:
        return []
    b = report.first_broken.as_dict()
    return [f"first broken link: seq {b.get('seq')} {b.get('record_type')} {b.get('record_id')}: {b.get('reason')} "
            f"(expected {b.get('expected')}, actual {b.get('actual')})"]


def _sealed_records_exist(*, limit: int, seal: bool = True) -> list[str]:
    """Every sealed record still exists: a link naming a missing record is a
    deletion (verify names only the first; this lists them)."""
    found: list[str] = []
    with connection.cursor() as cur:
        for s in sealables():
            cur.execute(
                f"SELECT l.seq, l.record_id FROM {ChainLink._meta.db_table} l WHERE l.record_type = %s "
                f"AND NOT EXISTS (SELECT 1 FROM {s.model._meta.db_table} r WHERE r.{s.model._meta.pk.column} = l.record_id) "
                f"ORDER BY l.seq LIMIT {limit}", [s.record_type])
            found += [f"link {seq}: sealed {s.record_type} {rid} no longer exists" for seq, rid in cur.fetchall()]
    return found[:limit]


PROCEDURES += [("chain_verifies", _chain_verifies), ("sealed_records_exist", _sealed_records_exist)]


# On a Citus cluster a row's id comes from the sequence range of the node that
# drew it (the coordinator, or the worker that holds the tenant when a trigger
# inserts), and after a tenant moves to another worker new ids can be lower
# than old ones: id order is not posting order there. These two replace the
# chains ordered by id with what holds in any order: each account's balances
# after a line, plus its opening 0, are exactly its balances before a line
# (after minus the line's move), plus its current balance. A line stamped with
# a wrong balance leaves its value unmatched.
ORDER_FREE_CHECKS: dict[str, tuple[str, str]] = {
    "running_balance_chain": ("account {0}: balance {1} is {2} more often a balance after a line than before one", """
        SELECT a.code, x.v, sum(x.n) FROM (
            SELECT l.account_id AS id, l.balance_after AS v, 1 AS n FROM ledger_ledgerline l
            UNION ALL
            SELECT l.account_id, l.balance_after - CASE WHEN l.side = a.normal_side THEN l.amount_minor
                                                        ELSE -l.amount_minor END, -1
            FROM ledger_ledgerline l JOIN ledger_account a ON a.id = l.account_id
            UNION ALL SELECT id, 0, 1 FROM ledger_account
            UNION ALL SELECT id, posted_balance, -1 FROM ledger_account) x
        JOIN ledger_account a ON a.id = x.id
        GROUP BY a.code, x.v HAVING sum(x.n) <> 0"""),
    "pending_running_chain": ("account {0}: pending {1} is {2} more often a pending after a movement than before one",
                              """
        SELECT a.code, x.v, sum(x.n) FROM (
            SELECT account_id AS id, pending_after AS v, 1 AS n FROM ledger_holdmovement
            UNION ALL SELECT account_id, pending_after - pending_delta, -1 FROM ledger_holdmovement
            UNION ALL SELECT id, 0, 1 FROM ledger_account
            UNION ALL SELECT id, pending_balance, -1 FROM ledger_account) x
        JOIN ledger_account a ON a.id = x.id
        GROUP BY a.code, x.v HAVING sum(x.n) <> 0"""),
}


def _checks() -> list[tuple[str, str, str]]:
    if not settings.CITUS:
        return CHECKS + EXTRA_CHECKS
    return [(name, *ORDER_FREE_CHECKS[name]) if name in ORDER_FREE_CHECKS else (name, template, sql)
            for name, template, sql in CHECKS + EXTRA_CHECKS]


def ledger_check(*, limit_per_check: int = 20, seal: bool = False, skip: tuple[str, ...] = (),
                 grace: timedelta = GRACE) -> list[Violation]:
    """Run every check in the current tenant schema.

    seal: seal pending records before verifying the chain (the command does,
    like verify_chain); off by default here so in-process callers (benches
    that bulk-load a million rows) verify what is sealed without sealing it all."""
    tenant = tenant_current()
    params = {"tenant_id": getattr(tenant, "pk", None) or 0, "tenant_slug": getattr(tenant, "slug", "") or "",
              "grace": grace}
    found: list[Violation] = []
    with connection.cursor() as cur:
        for name, template, sql in _checks():
            if name in skip:
                continue
            cur.execute(f"{sql} LIMIT {limit_per_check}", params)
            for row in cur.fetchall():
                found.append(Violation(name, template.format(*row)))
    for name, fn in PROCEDURES:
        if name not in skip:
            found += [Violation(name, detail) for detail in fn(limit=limit_per_check, seal=seal)]
    return found


def check_names() -> list[str]:
    return [name for name, _, _ in CHECKS + EXTRA_CHECKS] + [name for name, _ in PROCEDURES]
