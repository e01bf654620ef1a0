"""Reads for console pages. Every query runs in the schema the hostname
selected, so another tenant's ids are simply not found."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from audit.models import AuditEvent
from console.formatting import who as who_label
from ledger import errors
from core import errors as core_errors
from ledger.models import (
    Account, ApprovalRequest, ApprovalStatus, Hold, IdempotencyRecord, LedgerEntry, LedgerLine, Policy, Side,
)
from ledger.selectors import entry_lines
from events.models import Event
from ledger.models import AccountPolicy
from webhooks import selectors as webhook_selectors
from webhooks.models import Delivery
from ledger.selectors import hold_get as ledger_hold_get
from ledger.models import HOLD_OPEN_STATUSES
from django.urls import reverse
from django.utils.http import urlencode
from ledger.selectors import entry_reversals
from ledger.services.reversals import reversal_state

PAGE = 50
SEARCH_WINDOW = 500  # lines looked at per hop when following money across entries


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
    return {
        "currencies": sorted(totals.values(), key=lambda t: t.currency),
        "pending_approvals": ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count(),
        "rejected_today": AuditEvent.objects.filter(action="ledger_entry.create.rejected",
                                                    occurred_at__gte=day_start).count(),
        "failing_webhooks": webhook_selectors.failing_summary(),
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
        raise core_errors.NotFound(f"No account '{code}' in this tenant.")
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


def deliveries_for(events: list[Event]) -> list:
    """Webhook deliveries of these events, each with its newest attempt
    (`latest_attempt`, None before the first)."""
    rows = list(webhook_selectors.delivery_list().filter(event__in=events).order_by("id")[:200])
    latest = webhook_selectors.latest_attempts(rows)
    for d in rows:
        d.latest_attempt = latest.get(d.pk)
    return rows


@dataclass
class Evidence:
    idempotency_key: str
    entry: LedgerEntry | None
    lines: list[tuple[LedgerLine, Account]]
    record: IdempotencyRecord | None
    approval: ApprovalRequest | None
    events: list[Event]
    audit: list[AuditEvent]
    deliveries: list
    movement: list[Hop]
    steps: list[Step]
    balances_after: list[dict[str, Any]]
    rejection: dict[str, Any] | None
    # The hold this request created, captured or released (hold keys have no
    # entry of their own, or a hold_capture entry).
    hold: Hold | None = None

    @property
    def outcome(self) -> str:
        """What the request did, in one word: posted, held, released,
        rejected, pending/rejected/failed approval, or in flight."""
        if self.entry is not None:
            return "posted"
        if self.record is not None:
            return self.record.outcome or "in flight"
        return self.approval.status if self.approval else "unknown"

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
        if self.entry:
            return self.entry.policy_decisions or []
        if self.rejection:
            return self.rejection.get("decisions") or []
        if self.hold is not None and self.hold.idempotency_key == self.idempotency_key:
            return self.hold.policy_decisions or []
        return []


def evidence_for_entry(entry: LedgerEntry) -> Evidence:
    return _evidence(entry.idempotency_key, entry=entry)


def evidence_for_key(key: str) -> Evidence:
    """Evidence of a request that never became an entry (rejected, or still
    waiting for approval), by its idempotency key."""
    entry = LedgerEntry.objects.filter(idempotency_key=key).first()
    if entry is None and not (IdempotencyRecord.objects.filter(key=key).exists()
                              or ApprovalRequest.objects.filter(idempotency_key=key).exists()):
        raise core_errors.NotFound("No request with this idempotency key in this tenant.")
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
        balances_after=list(last_by_account.values()), rejection=rejection, hold=hold_for_request(key, record, entry),
    )
    ev.steps = state_path(ev)
    return ev


def hold_for_request(key: str, record: IdempotencyRecord | None, entry: LedgerEntry | None) -> Hold | None:
    """The hold a request acted on: created under this key, captured by this
    entry, or named in the stored answer of a release."""
    holds = Hold.objects.select_related("account", "destination")
    hold = holds.filter(idempotency_key=key).first()
    if hold is None and entry is not None and entry.kind == "hold_capture":
        hold = holds.filter(hold_id=(entry.metadata or {}).get("hold_id", "")).first()
    if hold is None and record is not None and isinstance(record.response_body, dict) \
            and record.operation.startswith("hold."):
        body = record.response_body
        hold_id = body.get("hold_id") or (body.get("hold") or {}).get("hold_id")
        hold = holds.filter(hold_id=hold_id).first() if hold_id else None
    return hold


# What a request without an entry did at the boundary, as the state path names it.
NON_ENTRY_OUTCOMES = {"held": "Held", "released": "Released"}


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
    elif record.outcome == "rejected":
        r = ev.rejection or {}
        why = f"{r['policy']} v{r['version']}: {r['rule']}" if r.get("policy") else r.get("code", "rejected")
        steps.append(Step("posted", "Rejected", "fail", why, record.completed_at))
    elif record.outcome in NON_ENTRY_OUTCOMES:
        # A money outcome without an entry: the hold's own state says what it is now.
        hold = ev.hold
        now = f"; now {hold.status.replace('_', ' ')}" if hold is not None else ""
        what = f"{hold.hold_id[:16]}…{now}" if hold is not None else record.outcome
        steps.append(Step("posted", NON_ENTRY_OUTCOMES[record.outcome], "ok", what, record.completed_at))
    else:
        steps.append(Step("posted", "Outcome", "warn" if not record.completed_at else "skip",
                          record.outcome or "in flight", record.completed_at))
    types = sorted({e.type for e in ev.events})
    steps.append(Step("events", "Events", "ok" if ev.events else "skip",
                      f"{len(ev.events)}: {', '.join(types)}" if types else "none"))
    failed_d = [d for d in ev.deliveries if d.status == "failed"]
    retrying = [d for d in ev.deliveries if d.status == "pending" and d.last_error]
    state = "fail" if failed_d else "warn" if retrying else "ok" if ev.deliveries else "skip"
    steps.append(Step("deliveries", "Deliveries", state,
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
        raise core_errors.NotFound(f"No policy named '{name}'.")
    return p


# --- audit ------------------------------------------------------------------------
def event_list(*, type_prefix: str = "", public_id: str = "") -> QuerySet[Event]:
    qs = Event.objects.all()
    if public_id:
        qs = qs.filter(public_id=public_id)
    return qs.filter(type__startswith=type_prefix) if type_prefix else qs


# --- holds ---------------------------------------------------------------------
@dataclass
class HoldStep:
    kind: str  # created | captured | released | expired
    amount_minor: int
    at: dt.datetime
    pending_after: int
    entry: LedgerEntry | None = None


def hold_get(ref: str) -> Hold:
    return ledger_hold_get(ref)


def hold_path(hold: Hold) -> list[HoldStep]:
    """created -> captured (each partial capture with its amount, time and
    entry) -> released | expired: the hold's movements, written by the
    database's hold trigger, oldest first."""
    return [HoldStep(m.kind, m.amount_minor, m.at, m.pending_after, m.entry)
            for m in hold.movements.select_related("entry").order_by("id")]


def account_holds(account: Account, *, limit: int = 5) -> dict[str, Any]:
    open_holds = Hold.objects.filter(account=account, status__in=HOLD_OPEN_STATUSES)
    return {"open_count": open_holds.count(), "recent": list(Hold.objects.filter(account=account).order_by("-id")[:limit]),
            "total": Hold.objects.filter(account=account).count()}


# --- search --------------------------------------------------------------------
@dataclass
class SearchHit:
    kind: str  # entry | account | hold | event | delivery | approval | request
    label: str
    detail: str
    url: str


SEARCH_LIMIT = 20


def search(q: str) -> dict[str, list[SearchHit]]:
    """One box for every id an operator pastes: posting id, entry id,
    idempotency key, external reference or correlation id of an entry; an
    account's code or name; a hold; an event; a webhook delivery; an approval
    request. Exact matches on indexed columns, so a search costs a few index
    probes; account codes and names match by any part."""
    q = (q or "").strip()
    out: dict[str, list[SearchHit]] = {}
    if not q:
        return out

    def add(kind: str, hit: SearchHit) -> None:
        hits = out.setdefault(kind, [])
        if len(hits) < SEARCH_LIMIT and all(h.url != hit.url for h in hits):
            hits.append(hit)

    entry_cond = Q(posting_id=q) | Q(idempotency_key=q) | Q(external_reference=q) | Q(correlation_id=q)
    if q.isdigit() and len(q) < 19:
        entry_cond |= Q(id=int(q))
    for e in LedgerEntry.objects.filter(entry_cond).order_by("-id")[:SEARCH_LIMIT]:
        add("entry", SearchHit("entry", e.posting_id, f"{e.kind} · {e.description or '—'} · {e.created_at:%d %b %Y %H:%M} UTC",
                               reverse("console:entry", kwargs={"ref": e.posting_id})))
    for a in Account.objects.filter(Q(code__icontains=q) | Q(name__icontains=q)).order_by("code")[:SEARCH_LIMIT]:
        add("account", SearchHit("account", a.code, f"{a.name} · {a.currency} · {a.status}",
                                 reverse("console:account", kwargs={"code": a.code})))
    for h in (Hold.objects.select_related("account")
              .filter(Q(hold_id=q) | Q(idempotency_key=q) | Q(external_reference=q) | Q(correlation_id=q))
              .order_by("-id")[:SEARCH_LIMIT]):
        add("hold", SearchHit("hold", h.hold_id, f"{h.status} · {h.account.code} · {h.currency}",
                              reverse("console:hold", kwargs={"ref": h.hold_id})))
    for ev in Event.objects.filter(public_id=q)[:1]:
        add("event", SearchHit("event", ev.public_id, f"{ev.type} · {ev.created_at:%d %b %Y %H:%M:%S} UTC",
                               reverse("console:events") + f"?id={ev.public_id}"))
    for d in Delivery.objects.select_related("event", "endpoint").filter(public_id=q)[:1]:
        add("delivery", SearchHit("delivery", d.public_id, f"{d.status} · {d.event.type} → {d.endpoint.url}",
                                  _delivery_url(d)))
    for ap in ApprovalRequest.objects.filter(Q(public_id=q) | Q(idempotency_key=q))[:SEARCH_LIMIT]:
        add("approval", SearchHit("approval", ap.public_id, f"{ap.get_kind_display()} · {ap.status}",
                                  reverse("console:approval", kwargs={"public_id": ap.public_id})))
    # A key that never became an entry or a hold (rejected, released...): its evidence.
    if "entry" not in out and "hold" not in out and "approval" not in out:
        record = IdempotencyRecord.objects.filter(key=q).first()
        if record is not None:
            add("request", SearchHit("request", record.key, f"{record.operation} · {record.outcome or 'in flight'}",
                                     reverse("console:evidence") + "?" + _qs({"key": record.key})))
    return out


def _qs(params: dict[str, str]) -> str:
    return urlencode(params)


def _delivery_url(delivery) -> str:
    """The delivery's event's evidence when it names an entry or a key;
    otherwise the events page filtered to that event."""
    payload = delivery.event.payload or {}
    if isinstance(payload, dict) and payload.get("posting_id"):
        return reverse("console:entry", kwargs={"ref": payload["posting_id"]})
    if isinstance(payload, dict) and payload.get("idempotency_key"):
        return reverse("console:evidence") + "?" + _qs({"key": payload["idempotency_key"]})
    return reverse("console:events") + f"?id={delivery.event.public_id}"


# --- corrections -----------------------------------------------------------------
def reversal_info(entry: LedgerEntry) -> dict[str, Any]:
    """What is left to reverse of an entry, its reversals, and whether a
    partial amount is possible (single currency only)."""
    state = reversal_state(entry)
    currencies = state["currencies"]
    return {"reversals": entry_reversals(entry), "remaining_minor": state["remaining_minor"],
            "total_minor": state["total_minor"], "reversed_minor": state["reversed_minor"],
            "currency": currencies[0] if len(currencies) == 1 else None,
            "reversible": entry.kind != "reversal" and state["remaining_minor"] > 0}
