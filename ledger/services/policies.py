"""Named, versioned rules evaluated at the posting boundary."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from core.actors import Actor
from audit.services.audit import audit_record
from ledger import errors
from core import errors as core_errors
from ledger.currencies import is_known
from ledger.models import Account, AccountPolicy, AccountStatus, Policy, PolicyKind
from events.services import event_emit

NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
MAX_MINOR = 2**63 - 1


def _int_param(params: dict, name: str, *, minimum: int = 0, required: bool = True) -> None:
    value = params.get(name)
    if value is None and not required:
        return
    if type(value) is not int or not (minimum <= value <= MAX_MINOR):
        raise core_errors.ValidationFailed(f"Policy parameter '{name}' must be an integer >= {minimum}.", field=f"params.{name}")


def policy_params_clean(*, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise core_errors.ValidationFailed("params must be an object.", field="params")
    allowed: dict[str, set[str]] = {
        PolicyKind.NO_NEGATIVE_AVAILABLE: {"overdraft_limit_minor"},
        PolicyKind.MAX_AMOUNT: {"max_amount_minor", "currency"},
        PolicyKind.ALLOWED_CURRENCIES: {"currencies"},
        PolicyKind.APPROVAL_THRESHOLD: {"threshold_minor", "currency"},
    }
    if kind not in allowed:
        raise core_errors.ValidationFailed(f"Unknown policy kind '{kind}'.", field="kind")
    extra = set(params) - allowed[kind]
    if extra:
        raise core_errors.UnknownField(f"Parameters not used by {kind}: {', '.join(sorted(extra))}.", fields=sorted(extra))
    if kind == PolicyKind.NO_NEGATIVE_AVAILABLE:
        params = {"overdraft_limit_minor": params.get("overdraft_limit_minor", 0)}
        _int_param(params, "overdraft_limit_minor")
    elif kind in (PolicyKind.MAX_AMOUNT, PolicyKind.APPROVAL_THRESHOLD):
        _int_param(params, "max_amount_minor" if kind == PolicyKind.MAX_AMOUNT else "threshold_minor", minimum=1)
        if "currency" in params and not (isinstance(params["currency"], str) and is_known(params["currency"])):
            raise errors.UnknownCurrency(field="params.currency")
    elif kind == PolicyKind.ALLOWED_CURRENCIES:
        cur = params.get("currencies")
        if not isinstance(cur, list) or not cur or not all(isinstance(c, str) and is_known(c) for c in cur):
            raise core_errors.ValidationFailed("currencies must be a non-empty list of ISO 4217 codes.", field="params.currencies")
        params = {"currencies": sorted(set(cur))}
    return params


def _policy_snapshot(p: Policy) -> dict[str, Any]:
    return {"name": p.name, "version": p.version, "kind": p.kind, "params": p.params,
            "applies_to_all": p.applies_to_all, "active": p.active, "description": p.description}


def policy_create(
    *, actor: Actor, name: str, kind: str, params: dict[str, Any], applies_to_all: bool = False, description: str = "",
) -> Policy:
    if not NAME_RE.match(name or ""):
        raise core_errors.ValidationFailed("A policy name is 2-64 characters: lowercase letters, digits, '_', '.', '-'.", field="name")
    params = policy_params_clean(kind=kind, params=params)
    try:
        with transaction.atomic():
            policy = Policy.objects.create(
                name=name, version=1, kind=kind, params=params, applies_to_all=applies_to_all,
                description=description, created_by=actor.ref,
            )
            audit_record(actor=actor, action="policy.created", target_type="policy", target_id=f"{name}@1",
                         after=_policy_snapshot(policy))
            event_emit(type="policy.created", payload=_policy_snapshot(policy), actor=actor)
    except IntegrityError as exc:
        raise errors.PolicyExists(f"A policy named '{name}' exists; add a version instead.") from exc
    return policy


def policy_revise(
    *, actor: Actor, name: str, params: dict[str, Any] | None = None, applies_to_all: bool | None = None,
    active: bool | None = None, description: str | None = None,
) -> Policy:
    """Editing never rewrites a version: it adds the next one."""
    with transaction.atomic():
        current = Policy.objects.select_for_update().filter(name=name).order_by("-version").first()
        if current is None:
            raise core_errors.NotFound(f"No policy named '{name}'.")
        new = Policy.objects.create(
            name=name, version=current.version + 1, kind=current.kind,
            params=policy_params_clean(kind=current.kind, params=params) if params is not None else current.params,
            applies_to_all=current.applies_to_all if applies_to_all is None else applies_to_all,
            active=current.active if active is None else active,
            description=current.description if description is None else description,
            created_by=actor.ref,
        )
        audit_record(actor=actor, action="policy.revised", target_type="policy", target_id=f"{name}@{new.version}",
                     before=_policy_snapshot(current), after=_policy_snapshot(new))
        event_emit(type="policy.revised", payload=_policy_snapshot(new), actor=actor)
    return new


def policies_for_accounts(account_ids: list[int]) -> list[tuple[Policy, set[int]]]:
    """In one query: the latest active version of every policy that is
    tenant-wide or attached to one of `account_ids`, with those accounts."""
    sql = f"""
        WITH latest AS (SELECT DISTINCT ON (name) * FROM {Policy._meta.db_table} ORDER BY name, version DESC)
        SELECT latest.*, coalesce(array_agg(ap.account_id) FILTER (WHERE ap.account_id IS NOT NULL), '{{}}') AS linked
        FROM latest LEFT JOIN {AccountPolicy._meta.db_table} ap
             ON ap.policy_name = latest.name AND ap.account_id = ANY(%s)
        WHERE latest.active
        GROUP BY latest.id, latest.name, latest.version, latest.kind, latest.params, latest.applies_to_all,
                 latest.active, latest.description, latest.created_at, latest.created_by
        HAVING latest.applies_to_all OR count(ap.account_id) > 0
        ORDER BY latest.name"""
    return [(p, set(p.linked)) for p in Policy.objects.raw(sql, [account_ids])]


@dataclass
class Evaluation:
    decisions: list[dict[str, Any]] = field(default_factory=list)
    failure: dict[str, Any] | None = None

    def record(self, policy: Policy | None, rule: str, passed: bool, **numbers: Any) -> None:
        decision = {
            "policy": policy.name if policy else "system.account_status",
            "version": policy.version if policy else 1,
            "rule": rule,
            "decision": "pass" if passed else "fail",
            **numbers,
        }
        self.decisions.append(decision)
        if not passed and self.failure is None:
            self.failure = decision


def policies_evaluate(
    *, accounts: dict[int, Account], available_deltas: dict[int, int], amounts_by_currency: dict[str, int],
    policies: list[tuple[Policy, set[int]]] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every rule that applies; raise PolicyRejected naming the first
    failure with its numbers, else return the decisions to store on the entry.

    `policies`: policies_for_accounts() over a superset of `accounts`, read
    once by a caller that evaluates many postings (a batch)."""
    ev = Evaluation()
    for acc in accounts.values():
        ev.record(None, "account_status", acc.status == AccountStatus.OPEN, account=acc.code, status=acc.status)
    for policy, linked in (policies_for_accounts(list(accounts)) if policies is None else policies):
        linked = linked & accounts.keys()
        if not policy.applies_to_all and not linked:
            continue
        targets = list(accounts) if policy.applies_to_all else sorted(linked)
        if policy.kind == PolicyKind.NO_NEGATIVE_AVAILABLE:
            limit = policy.params.get("overdraft_limit_minor", 0)
            for account_id in targets:
                delta = available_deltas.get(account_id, 0)
                if delta >= 0:
                    continue  # money coming in is never refused
                acc = accounts[account_id]
                after = acc.available_balance + delta
                ev.record(policy, policy.kind, after >= -limit, account=acc.code, currency=acc.currency,
                          available=acc.available_balance, requested=-delta, available_after=after,
                          overdraft_limit_minor=limit)
        elif policy.kind == PolicyKind.MAX_AMOUNT:
            limit = policy.params["max_amount_minor"]
            for currency, amount in sorted(amounts_by_currency.items()):
                if policy.params.get("currency") in (None, currency):
                    ev.record(policy, policy.kind, amount <= limit, currency=currency, amount_minor=amount,
                              max_amount_minor=limit)
        elif policy.kind == PolicyKind.ALLOWED_CURRENCIES:
            allowed = policy.params["currencies"]
            for currency in sorted(amounts_by_currency):
                ev.record(policy, policy.kind, currency in allowed, currency=currency, allowed=allowed)
        # approval_threshold is enforced where a human posts (console maker-checker).
    if ev.failure is not None:
        f = ev.failure
        if f["rule"] == "account_status":
            raise errors.AccountNotOpen(
                f"Account '{f['account']}' is {f['status']}.", policy=f["policy"], version=f["version"],
                rule=f["rule"], account=f["account"], account_status=f["status"], decisions=ev.decisions,
            )
        numbers = {k: v for k, v in f.items() if k not in {"policy", "version", "rule", "decision"}}
        raise errors.PolicyRejected(
            _explain(f), policy=f["policy"], version=f["version"], rule=f["rule"], numbers=numbers, decisions=ev.decisions,
        )
    return ev.decisions


def _explain(f: dict[str, Any]) -> str:
    if f["rule"] == PolicyKind.NO_NEGATIVE_AVAILABLE:
        return (f"Policy {f['policy']} v{f['version']}: account '{f['account']}' has {f['available']} "
                f"{f['currency']} available, {f['requested']} requested (overdraft limit {f['overdraft_limit_minor']}).")
    if f["rule"] == PolicyKind.MAX_AMOUNT:
        return (f"Policy {f['policy']} v{f['version']}: {f['amount_minor']} {f['currency']} exceeds the maximum "
                f"of {f['max_amount_minor']} per entry.")
    if f["rule"] == PolicyKind.ALLOWED_CURRENCIES:
        return f"Policy {f['policy']} v{f['version']}: currency {f['currency']} is not allowed ({', '.join(f['allowed'])})."
    return f"Policy {f['policy']} v{f['version']} rejected the request."
