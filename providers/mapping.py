"""Mapping rules: provider event → one ledger operation.

A provider's `mapping` (JSON, per tenant and provider) says where the event
id and type are in the body, and for each event type which operation it
becomes and where that operation's numbers are:

    {"event_id": "id", "event_type": "type",
     "rules": {"payment.completed": {"action": "post", "amount": "data.amount",
                                     "currency": "data.currency", "reference": "data.id",
                                     "debit": "customer_balance", "credit": "settlement_clearing"}}}

Paths are dot-separated keys (an integer segment indexes a list). Actions:
- `post`: an entry debit → credit of `amount` (ledger entry_post);
- `capture_or_post`: capture the hold whose external reference (or hold id,
  `hold_id` path) matches `reference`, else `post`;
- `reverse`: reverse the entry whose external reference is `original_reference`
  (ledger entry_reverse); waits until that entry exists. With
  `amount_is_cumulative` the amount is the total refunded so far (Stripe's
  `amount_refunded`), and only the part not yet reversed is reversed.

Stripe providers start from STRIPE_MAPPING, the rules the demo uses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from providers.errors import MappingInvalid
from core.ids import int_from_text

ACTIONS = ("post", "capture_or_post", "reverse")
PATH_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}(\.[A-Za-z0-9_\-]{1,64}){0,15}$")
CODE_RE = re.compile(r"^[a-z0-9_\-.:]{1,64}$")
TYPE_RE = re.compile(r"^[\x21-\x7e]{1,120}$")
MAX_RULES = 100

STRIPE_MAPPING: dict[str, Any] = {
    "event_id": "id",
    "event_type": "type",
    "rules": {
        "payment_intent.succeeded": {
            "action": "capture_or_post", "reference": "data.object.id", "hold_id": "data.object.metadata.hold_id",
            "amount": "data.object.amount_received", "currency": "data.object.currency",
            "debit": "customer_balance", "credit": "settlement_clearing",
        },
        "charge.refunded": {
            "action": "reverse", "original_reference": "data.object.payment_intent",
            "amount": "data.object.amount_refunded", "amount_is_cumulative": True,
            "reference": "data.object.id",
        },
        "payout.paid": {
            "action": "post", "reference": "data.object.id", "amount": "data.object.amount",
            "currency": "data.object.currency", "debit": "settlement_clearing", "credit": "payout_clearing",
        },
    },
}

_MISSING = object()


def path_get(payload: Any, path: str) -> Any:
    node = payload
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and (index := int_from_text(part)) is not None and index < len(node):
            node = node[index]
        else:
            return None
        if node is _MISSING:
            return None
    return node


def _path(rule: dict, key: str, where: str, required: bool) -> None:
    value = rule.get(key)
    if value is None:
        if required:
            raise MappingInvalid(f"{where}: '{key}' (a JSON path) is required.", field=f"{where}.{key}")
        return
    if not isinstance(value, str) or not PATH_RE.match(value):
        raise MappingInvalid(f"{where}: '{key}' must be a dotted JSON path like 'data.object.id'.",
                             field=f"{where}.{key}")


RULE_KEYS = {"action", "amount", "currency", "default_currency", "reference", "hold_id", "original_reference",
             "amount_is_cumulative", "debit", "credit", "description"}


def mapping_clean(mapping: Any) -> dict[str, Any]:
    if not isinstance(mapping, dict):
        raise MappingInvalid("mapping must be a JSON object.", field="mapping")
    unknown = sorted(set(mapping) - {"event_id", "event_type", "rules"})
    if unknown:
        raise MappingInvalid(f"mapping: unknown keys {', '.join(unknown)}.", field="mapping")
    _path(mapping, "event_id", "mapping", True)
    _path(mapping, "event_type", "mapping", True)
    rules = mapping.get("rules")
    if not isinstance(rules, dict) or not rules:
        raise MappingInvalid("mapping.rules must map at least one event type to a rule.", field="mapping.rules")
    if len(rules) > MAX_RULES:
        raise MappingInvalid(f"mapping.rules has at most {MAX_RULES} event types.", field="mapping.rules")
    for event_type, rule in rules.items():
        where = f"mapping.rules.{event_type}"
        if not TYPE_RE.match(event_type):
            raise MappingInvalid(f"'{event_type}' is not an event type (printable ASCII, no spaces).", field=where)
        if not isinstance(rule, dict):
            raise MappingInvalid(f"{where} must be an object.", field=where)
        extra = sorted(set(rule) - RULE_KEYS)
        if extra:
            raise MappingInvalid(f"{where}: unknown keys {', '.join(extra)}.", field=where)
        action = rule.get("action")
        if action not in ACTIONS:
            raise MappingInvalid(f"{where}.action is one of {', '.join(ACTIONS)}.", field=f"{where}.action")
        _path(rule, "amount", where, action != "reverse")
        _path(rule, "reference", where, False)
        _path(rule, "hold_id", where, False)
        _path(rule, "currency", where, False)
        _path(rule, "original_reference", where, action == "reverse")
        if action != "reverse":
            for key in ("debit", "credit"):
                if not isinstance(rule.get(key), str) or not CODE_RE.match(rule[key]):
                    raise MappingInvalid(f"{where}.{key} must be an account code.", field=f"{where}.{key}")
            if rule["debit"] == rule["credit"]:
                raise MappingInvalid(f"{where}: debit and credit must differ.", field=where)
            if "currency" not in rule and not isinstance(rule.get("default_currency"), str):
                raise MappingInvalid(f"{where}: give a 'currency' path or a 'default_currency'.", field=where)
        if "default_currency" in rule and not (isinstance(rule["default_currency"], str)
                                               and re.fullmatch(r"[A-Za-z]{3}", rule["default_currency"])):
            raise MappingInvalid(f"{where}.default_currency is a 3-letter code.", field=f"{where}.default_currency")
        if not isinstance(rule.get("amount_is_cumulative", False), bool):
            raise MappingInvalid(f"{where}.amount_is_cumulative is true or false.", field=where)
        if not isinstance(rule.get("description", ""), str) or len(rule.get("description", "")) > 200:
            raise MappingInvalid(f"{where}.description is text up to 200 characters.", field=where)
    return mapping


class RuleValueError(Exception):
    """The event lacks a value its rule needs: it can never apply."""


@dataclass(frozen=True)
class Intent:
    action: str
    amount_minor: int | None
    currency: str
    reference: str
    hold_id: str
    original_reference: str
    amount_is_cumulative: bool
    debit: str
    credit: str
    description: str

    def fingerprint(self) -> dict[str, Any]:
        """What makes two deliveries the same request at the posting boundary."""
        return {"action": self.action, "amount_minor": self.amount_minor, "currency": self.currency,
                "reference": self.reference, "hold_id": self.hold_id, "original_reference": self.original_reference,
                "debit": self.debit, "credit": self.credit}


def _text(payload: Any, path: str | None, name: str, required: bool) -> str:
    if not path:
        return ""
    value = path_get(payload, path)
    if value is None or value == "":
        if required:
            raise RuleValueError(f"{name} missing at '{path}'")
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise RuleValueError(f"{name} at '{path}' is not a string")
    value = str(value)
    if not re.fullmatch(r"[\x20-\x7e]{1,200}", value):
        raise RuleValueError(f"{name} at '{path}' is not 1-200 printable ASCII characters")
    return value


def intent_build(rule: dict[str, Any], payload: Any) -> Intent:
    amount = None
    if rule.get("amount"):
        amount = path_get(payload, rule["amount"])
        if type(amount) is not int or not (0 < amount <= 2**63 - 1):
            raise RuleValueError(f"amount at '{rule['amount']}' is not a positive integer in minor units: {amount!r}"[:300])
    currency = ""
    if rule.get("currency"):
        currency = _text(payload, rule["currency"], "currency", "default_currency" not in rule).upper()
    currency = currency or str(rule.get("default_currency", "")).upper()
    return Intent(
        action=rule["action"], amount_minor=amount, currency=currency,
        reference=_text(payload, rule.get("reference"), "reference", False),
        hold_id=_text(payload, rule.get("hold_id"), "hold_id", False),
        original_reference=_text(payload, rule.get("original_reference"), "original_reference",
                                 rule["action"] == "reverse"),
        amount_is_cumulative=bool(rule.get("amount_is_cumulative")),
        debit=rule.get("debit", ""), credit=rule.get("credit", ""), description=rule.get("description", ""),
    )
