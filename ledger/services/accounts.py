from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from ledger import errors
from core import errors as core_errors
from ledger.currencies import is_known
from ledger.locks import lock_accounts
from ledger.models import Account, AccountKind, AccountPolicy, AccountStatus, Policy, Side
from ledger.presenters import account_body
from events.services import event_emit

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_.:\-]{0,63}$")


def _policies_exist(names: list[str]) -> list[str]:
    names = sorted(set(names))
    known = set(Policy.objects.filter(name__in=names).values_list("name", flat=True))
    missing = [n for n in names if n not in known]
    if missing:
        raise core_errors.ValidationFailed(f"Unknown policies: {', '.join(missing)}.", field="policies")
    return names


def account_create(
    *, actor: Actor, code: str, name: str, currency: str, normal_side: str, kind: str,
    metadata: dict[str, Any] | None = None, policies: list[str] | None = None,
) -> Account:
    if not CODE_RE.match(code or ""):
        raise core_errors.ValidationFailed(
            "An account code is 1-64 characters: lowercase letters, digits, '_', '.', ':', '-'.", field="code"
        )
    if not is_known(currency):
        raise errors.UnknownCurrency(f"'{currency}' is not a known ISO 4217 currency.", field="currency")
    if normal_side not in Side.values:
        raise core_errors.ValidationFailed("normal_side is 'debit' or 'credit'.", field="normal_side")
    if kind not in AccountKind.values:
        raise core_errors.ValidationFailed(f"kind is one of {', '.join(AccountKind.values)}.", field="kind")
    names = _policies_exist(policies or [])
    try:
        with transaction.atomic():
            acc = Account.objects.create(
                code=code, name=name, currency=currency, normal_side=normal_side, kind=kind, metadata=metadata or {}
            )
            AccountPolicy.objects.bulk_create([AccountPolicy(account=acc, policy_name=n) for n in names])
            acc.refresh_from_db()
            snapshot = account_body(acc, policies=names)
            audit_record(actor=actor, action="account.created", target_type="account", target_id=acc.id, after=snapshot,
                         metadata={"account": acc.code})
            event_emit(type="account.created", payload=snapshot, actor=actor)
    except IntegrityError as exc:
        raise errors.AccountCodeExists(f"An account with code '{code}' already exists.") from exc
    return acc


def _set_status(*, actor: Actor, account_id: int, status: str, action: str) -> Account:
    with transaction.atomic():
        acc = lock_accounts([account_id])[account_id]
        before = account_body(acc)
        if acc.status == AccountStatus.CLOSED:
            raise core_errors.Conflict(f"Account '{acc.code}' is closed; a closed account stays closed.")
        if status == AccountStatus.CLOSED and (acc.posted_balance != 0 or acc.pending_balance != 0):
            raise errors.AccountHasBalance(
                f"Account '{acc.code}' has posted {acc.posted_balance} and pending {acc.pending_balance}; "
                "move the balance out before closing.", posted=acc.posted_balance, pending=acc.pending_balance,
            )
        acc.status = status
        acc.closed_at = timezone.now() if status == AccountStatus.CLOSED else None
        acc.save(update_fields=["status", "closed_at"])
        after = account_body(acc)
        audit_record(actor=actor, action=action, target_type="account", target_id=acc.id, before=before, after=after,
                     metadata={"account": acc.code})
        event_emit(type=action, payload=after, actor=actor)
    return acc


def account_close(*, actor: Actor, account: Account) -> Account:
    return _set_status(actor=actor, account_id=account.id, status=AccountStatus.CLOSED, action="account.closed")


def account_freeze(*, actor: Actor, account: Account) -> Account:
    return _set_status(actor=actor, account_id=account.id, status=AccountStatus.FROZEN, action="account.frozen")


def account_unfreeze(*, actor: Actor, account: Account) -> Account:
    return _set_status(actor=actor, account_id=account.id, status=AccountStatus.OPEN, action="account.unfrozen")


def account_policies_set(*, actor: Actor, account: Account, policies: list[str]) -> list[str]:
    names = _policies_exist(policies)
    with transaction.atomic():
        before = sorted(AccountPolicy.objects.filter(account=account).values_list("policy_name", flat=True))
        AccountPolicy.objects.filter(account=account).exclude(policy_name__in=names).delete()
        AccountPolicy.objects.bulk_create(
            [AccountPolicy(account=account, policy_name=n) for n in names if n not in before]
        )
        audit_record(actor=actor, action="account.policies_set", target_type="account", target_id=account.id,
                     before={"policies": before}, after={"policies": names}, metadata={"account": account.code})
    return names
