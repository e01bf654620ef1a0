"""Reads for console pages. Every query runs in the schema the hostname
selected, so another tenant's ids are simply not found."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from audit.models import AuditEvent
from console.formatting import who as who_label
from ledger import errors
from ledger.models import (
    Account, ApprovalRequest, ApprovalStatus, IdempotencyRecord, LedgerEntry, LedgerLine, Policy, Side,
)
from ledger.selectors import entry_lines
from webhooks.models import Event

PAGE = 50
SEARCH_WINDOW = 500  # lines looked at per hop when following money across entries


def optional_model(app_label: str, name: str):
    """Models other parts of Zentra add later (webhook deliveries, holds).
    A page shows their section only when the model exists in this build."""
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def keyset(qs: QuerySet, *, before: int | None, size: int = PAGE) -> tuple[list, int | None]:
    """Newest first, `size` rows older than `before`; constant time at any depth."""
    if before:
        qs = qs.filter(id__lt=before)
    rows = list(qs.order_by("-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more and rows else None)


# --- overview ---------------------------------------------------------------
@dataclass
class CurrencyTotals:
    currency: str
    debit_normal: int = 0  # assets + expenses
    credit_normal: int = 0  # liabilities + equity + revenue
    pending: int = 0
    accounts: int = 0
    volume_today: int = 0
    entries_today: int = 0

    @property
    def balanced(self) -> bool:
        return self.debit_normal == self.credit_normal


def overview(*, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    totals: dict[str, CurrencyTotals] = {}
    for row in (Account.objects.values("currency", "normal_side")
                .annotate(posted=Sum("posted_balance"), pending=Sum("pending_balance"), n=Count("id"))):
        t = totals.setdefault(row["currency"], CurrencyTotals(row["currency"]))
        if row["normal_side"] == Side.DEBIT:
            t.debit_normal += row["posted"] or 0
        else:
            t.credit_normal += row["posted"] or 0
        t.pending += row["pending"] or 0
        t.accounts += row["n"]
    # Volume = debits of today's entries (each entry's debits equal its credits);
    # reached through the entries' created_at index, not a scan of all lines.
    for row in (LedgerLine.objects.filter(entry__created_at__gte=day_start, side=Side.DEBIT)
                .values("currency").annotate(volume=Sum("amount_minor"), entries=Count("entry_id", distinct=True))):
        t = totals.setdefault(row["currency"], CurrencyTotals(row["currency"]))
        t.volume_today, t.entries_today = row["volume"], row["entries"]
    deliveries = optional_model("webhooks", "Delivery")
    failing = deliveries.objects.filter(status="failed").count() if deliveries is not None else None
    return {
        "currencies": sorted(totals.values(), key=lambda t: t.currency),
        "pending_approvals": ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count(),
        "rejected_today": AuditEvent.objects.filter(action="ledger_entry.create.rejected",
                                                    occurred_at__gte=day_start).count(),
        "failing_deliveries": failing,
        "recent_entries": recent_entries(limit=8),
        "day_start": day_start,
    }


@dataclass
class EntryRow:
    entry: LedgerEntry
    debits: list[tuple[LedgerLine, Account]] = field(default_factory=list)
    credits: list[tuple[LedgerLine, Account]] = field(default_factory=list)

    @property
    def amounts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for line, _ in self.debits:
            out[line.currency] += line.amount_minor
        return dict(out)


def entry_rows(entries: list[LedgerEntry]) -> list[EntryRow]:
    by_id = {e.id: EntryRow(e) for e in entries}
    for line in LedgerLine.objects.filter(entry_id__in=by_id).select_related("account").order_by("id"):
        row = by_id[line.entry_id]
        (row.debits if line.side == Side.DEBIT else row.credits).append((line, line.account))
    return [by_id[e.id] for e in entries]


def recent_entries(*, limit: int = 10) -> list[EntryRow]:
    return entry_rows(list(LedgerEntry.objects.order_by("-id")[:limit]))


# --- accounts ---------------------------------------------------------------
def balance_series(*, account: Account, limit: int = 400) -> list[tuple[dt.datetime, int]]:
    """The last `limit` stored running balances, oldest first (for the chart)."""
    rows = (LedgerLine.objects.filter(account=account).order_by("-id").values_list("posted_at", "balance_after")[:limit])
    return list(reversed(rows))


def account_by_code(code: str) -> Account:
    acc = Account.objects.filter(code=code).first()
    if acc is None:
        raise errors.NotFound(f"No account '{code}' in this tenant.")
    return acc


def open_accounts() -> list[Account]:
    return list(Account.objects.filter(status="open").order_by("code"))


# --- evidence ---------------------------------------------------------------
@dataclass
class Step:
    key: str
    title: str
    state: str  # ok | warn | fail | skip
    summary: str
    at: dt.datetime | None = None
    details: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class Hop:
    entry: LedgerEntry
    debit: Account
    credit: Account
    amount_minor: int
    currency: str


def _two_line(entry: LedgerEntry) -> tuple[LedgerLine, LedgerLine] | None:
    lines = list(entry.lines.select_related("account").order_by("id")) if entry.line_count == 2 else []
    if len(lines) != 2 or lines[0].currency != lines[1].currency or lines[0].side == lines[1].side:
        return None
    debit, credit = (lines[0], lines[1]) if lines[0].side == Side.DEBIT else (lines[1], lines[0])
    return debit, credit


def movement_chain(entry: LedgerEntry, *, max_hops: int = 6) -> list[Hop]:
    """Follow one money movement across accounts, as the seed's ledger flow
    does (Customer -> Reserved -> Settlement -> Merchant -> Payout): from a
    two-line entry, walk back to the entry that brought the same amount into
    its debited account and forward to the entry that moved it on from its
    credited account. Matched by account, amount and currency only; the page
    says so."""
    pair = _two_line(entry)
    if pair is None:
        return []
    hops = [Hop(entry, pair[0].account, pair[1].account, pair[0].amount_minor, pair[0].currency)]

    def neighbour(account: Account, side: str, amount: int, currency: str, entry_id: int, backwards: bool):
        # Only the account's nearest lines (index on account, id): a busy
        # account must not turn one evidence page into a scan of its history.
        near = LedgerLine.objects.filter(account=account)
        near = near.filter(entry_id__lt=entry_id).order_by("-id") if backwards else \
            near.filter(entry_id__gt=entry_id).order_by("id")
        for line in near.select_related("entry")[:SEARCH_WINDOW]:
            if (line.side, line.amount_minor, line.currency, line.entry.line_count) == (side, amount, currency, 2):
                pair = _two_line(line.entry)
                return Hop(line.entry, pair[0].account, pair[1].account, amount, currency) if pair else None
        return None

    while len(hops) < max_hops:
        first = hops[0]
        prev = neighbour(first.debit, Side.CREDIT, first.amount_minor, first.currency, first.entry.id, True)
        if prev is None or prev.debit.id in {h.debit.id for h in hops} | {hops[-1].credit.id}:
            break
        hops.insert(0, prev)
    while len(hops) < max_hops:
        last = hops[-1]
        nxt = neighbour(last.credit, Side.DEBIT, last.amount_minor, last.currency, last.entry.id, False)
        if nxt is None or nxt.credit.id in {h.debit.id for h in hops}:
            break
        hops.append(nxt)
    return hops if len(hops) > 1 else []


def related_events(*, idempotency_key: str, entry_id: int | None, approval: ApprovalRequest | None) -> list[Event]:
    """Events that name this request: by its key (entry created, policy
    rejected, pending approval...), its entry or its approval request.
    Not by correlation id alone: a batch job shares one id across many
    requests, and the audit browser is the place to follow an id."""
    cond = Q(payload__idempotency_key=idempotency_key)
    if entry_id is not None:
        cond |= Q(type__startswith="ledger.entry.", payload__id=entry_id) | Q(payload__entry_id=entry_id)
    if approval is not None:
        cond |= Q(payload__id=approval.public_id)
    return list(Event.objects.filter(cond).order_by("id")[:100])


def related_audit(*, idempotency_key: str, entry_id: int | None, approval: ApprovalRequest | None) -> list[AuditEvent]:
    cond = Q(metadata__idempotency_key=idempotency_key) | Q(target_type="idempotency_key", target_id=idempotency_key)
    if entry_id is not None:
        cond |= Q(target_type="ledger_entry", target_id=str(entry_id))
    if approval is not None:
        cond |= Q(target_type="approval_request", target_id=approval.public_id)
    return list(AuditEvent.objects.filter(cond).order_by("id")[:100])


def deliveries_for(events: list[Event]) -> list | None:
    """Webhook deliveries of these events, or None when this build has no
    delivery tracking yet."""
    model = optional_model("webhooks", "Delivery")
    if model is None:
        return None
    return list(model.objects.filter(event__in=events).select_related("event", "endpoint").order_by("id"))


@dataclass
class Evidence:
    idempotency_key: str
    entry: LedgerEntry | None
    lines: list[tuple[LedgerLine, Account]]
    record: IdempotencyRecord | None
    approval: ApprovalRequest | None
    events: list[Event]
    audit: list[AuditEvent]
    deliveries: list | None
    movement: list[Hop]
    steps: list[Step]
    balances_after: list[dict[str, Any]]
    rejection: dict[str, Any] | None

    @property
    def correlation_id(self) -> str:
        if self.entry:
            return self.entry.correlation_id
        return self.record.correlation_id if self.record else self.approval.request_correlation_id

    @property
    def request_hash(self) -> str:
        if self.entry:
            return self.entry.request_hash
        return self.record.request_hash if self.record else self.approval.request_hash

    @property
    def actor_ref(self) -> str:
        if self.entry:
            return self.entry.actor_ref
        return self.record.actor_ref if self.record else self.approval.requested_by

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return (self.entry.policy_decisions if self.entry else (self.rejection or {}).get("decisions")) or []


def evidence_for_entry(entry: LedgerEntry) -> Evidence:
    return _evidence(entry.idempotency_key, entry=entry)


def evidence_for_key(key: str) -> Evidence:
    """Evidence of a request that never became an entry (rejected, or still
    waiting for approval), by its idempotency key."""
    entry = LedgerEntry.objects.filter(idempotency_key=key).first()
    if entry is None and not (IdempotencyRecord.objects.filter(key=key).exists()
                              or ApprovalRequest.objects.filter(idempotency_key=key).exists()):
        raise errors.NotFound("No request with this idempotency key in this tenant.")
    return _evidence(key, entry=entry)


def _evidence(key: str, *, entry: LedgerEntry | None) -> Evidence:
    record = IdempotencyRecord.objects.filter(key=key).first()
    approval = ApprovalRequest.objects.filter(idempotency_key=key).first()
    lines = entry_lines(entry) if entry else []
    events = related_events(idempotency_key=key, entry_id=entry.id if entry else None, approval=approval)
    audit = related_audit(idempotency_key=key, entry_id=entry.id if entry else None, approval=approval)
    deliveries = deliveries_for(events)
    last_by_account: dict[int, dict[str, Any]] = {}
    for line, acc in lines:
        last_by_account[acc.id] = {"account": acc, "currency": line.currency, "balance_after": line.balance_after}
    rejection = record.response_body if record is not None and record.outcome == "rejected" else None
    ev = Evidence(
        idempotency_key=key, entry=entry, lines=lines, record=record, approval=approval, events=events, audit=audit,
        deliveries=deliveries, movement=movement_chain(entry) if entry else [], steps=[],
        balances_after=list(last_by_account.values()), rejection=rejection,
    )
    ev.steps = state_path(ev)
    return ev


def state_path(ev: Evidence) -> list[Step]:
    """received -> (approval) -> boundary -> policies -> posted|rejected ->
    events -> deliveries: the seed's runtime state machine for one request."""
    entry, record, approval = ev.entry, ev.record, ev.approval
    steps: list[Step] = []
    received_at = approval.requested_at if approval else (record.created_at if record else entry.created_at)
    who = approval.requested_by if approval else (record.actor_ref if record else entry.actor_ref)
    steps.append(Step("received", "Received", "ok", f"from {who_label(who)}", received_at, [
        ("actor", who),
        ("correlation id", approval.request_correlation_id if approval else (record.correlation_id if record else entry.correlation_id)),
        ("request hash", approval.request_hash if approval else (record.request_hash if record else entry.request_hash)),
    ]))
    if approval is not None:
        state = {"pending": "warn", "posted": "ok", "rejected": "fail", "failed": "fail"}[approval.status]
        summary = ("waiting for a second person" if approval.status == ApprovalStatus.PENDING else
                   f"{approval.status} by {who_label(approval.decided_by)}")
        steps.append(Step("approval", "Maker-checker", state, summary, approval.decided_at, [
            ("requested by", approval.requested_by), ("decided by", approval.decided_by or "—"),
            ("threshold", f"{approval.threshold.get('policy', '—')} v{approval.threshold.get('version', '—')}: "
                          f"{approval.threshold.get('amount_minor', '—')} > {approval.threshold.get('threshold_minor', '—')}"
             if approval.threshold else "—"),
        ]))
    if record is None:
        steps.append(Step("boundary", "Boundary", "skip", "not reached yet"))
        return steps
    replays = record.replay_count
    steps.append(Step("boundary", "Boundary", "ok", "new key, claimed" + (f"; replayed {replays}×" if replays else ""),
                      record.created_at, [("key", record.key), ("replays", replays),
                                          ("last replayed", record.last_replayed_at)]))
    decisions = ev.decisions
    failed = [d for d in decisions if d.get("decision") == "fail"]
    if record.outcome == "rejected" and not decisions:
        failed = [ev.rejection or {}]
    steps.append(Step("policies", "Policies", "fail" if failed else "ok",
                      f"{len(decisions)} rule{'s' if len(decisions) != 1 else ''} evaluated, "
                      + (f"{len(failed)} failed" if failed else "all passed")))
    if entry is not None:
        steps.append(Step("posted", "Posted", "ok", f"{entry.posting_id[:16]}…, {len(ev.lines)} lines",
                          entry.created_at))
    else:
        r = ev.rejection or {}
        why = f"{r['policy']} v{r['version']}: {r['rule']}" if r.get("policy") else r.get("code", "rejected")
        steps.append(Step("posted", "Rejected", "fail", why, record.completed_at))
    types = sorted({e.type for e in ev.events})
    steps.append(Step("events", "Events", "ok" if ev.events else "skip",
                      f"{len(ev.events)}: {', '.join(types)}" if types else "none"))
    if ev.deliveries is None:
        steps.append(Step("deliveries", "Deliveries", "skip", "delivery tracking not in this build"))
    else:
        failed_d = [d for d in ev.deliveries if d.status == "failed"]
        steps.append(Step("deliveries", "Deliveries", "fail" if failed_d else ("ok" if ev.deliveries else "skip"),
                          f"{len(ev.deliveries)} deliveries, {sum(d.attempt_count for d in ev.deliveries)} attempts"
                          if ev.deliveries else "no endpoint subscribed"))
    return steps


# --- approvals ----------------------------------------------------------------
def approval_get(public_id: str) -> ApprovalRequest:
    approval = ApprovalRequest.objects.select_related("entry").filter(public_id=public_id).first()
    if approval is None:
        raise errors.ApprovalNotFound(f"No approval request '{public_id}' in this tenant.")
    return approval


def approval_list(*, status: str | None) -> QuerySet[ApprovalRequest]:
    qs = ApprovalRequest.objects.select_related("entry")
    return qs.filter(status=status) if status else qs


# --- policies -------------------------------------------------------------------
@dataclass
class PolicyHistory:
    name: str
    current: Policy
    versions: list[Policy]
    accounts: list[str]
    changes: list[AuditEvent]


def policy_histories() -> list[PolicyHistory]:
    from ledger.models import AccountPolicy

    versions: dict[str, list[Policy]] = defaultdict(list)
    for p in Policy.objects.order_by("name", "-version"):
        versions[p.name].append(p)
    attached: dict[str, list[str]] = defaultdict(list)
    for name, code in AccountPolicy.objects.order_by("account__code").values_list("policy_name", "account__code"):
        attached[name].append(code)
    changes: dict[str, list[AuditEvent]] = defaultdict(list)
    for ev in AuditEvent.objects.filter(target_type="policy").order_by("-id")[:500]:
        changes[ev.target_id.split("@")[0]].append(ev)
    return [PolicyHistory(name, vs[0], vs, attached.get(name, []), changes.get(name, []))
            for name, vs in sorted(versions.items())]


def policy_current(name: str) -> Policy:
    p = Policy.objects.filter(name=name).order_by("-version").first()
    if p is None:
        raise errors.NotFound(f"No policy named '{name}'.")
    return p


# --- audit ------------------------------------------------------------------------
def event_list(*, type_prefix: str = "") -> QuerySet[Event]:
    qs = Event.objects.all()
    return qs.filter(type__startswith=type_prefix) if type_prefix else qs
