from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from itertools import groupby

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.dateparse import parse_datetime

from console.charts import major, signed_mu
from console.formatting import who
from console.messages import problem_sentence
from console.nav import NAV
from ledger.models import ApprovalRequest

register = template.Library()


@register.filter
def money(minor, currency: str = "USD") -> str:
    """Minor units shown in major units with the currency's exponent: exact
    integer arithmetic, never a float."""
    if minor is None or minor == "":
        return "—"
    return major(int(minor), currency)


@register.filter
def when(value) -> str:
    """The console's one spelling of an instant: `2026-01-31 14:05:09 UTC`
    (stored instants are UTC; the zone is always written out)."""
    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return value
        value = parsed
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@register.filter
def mu(value) -> str:
    return "—" if value is None else signed_mu(int(value))


@register.filter
def minor(value) -> str:
    return "—" if value is None else f"{int(value):,}".replace(",", "\u2009")


# Zentra's own ids: a type prefix and 32 hex digits (core.ids).
_OWN_ID = re.compile(r"^([a-z]{2,4}_)([0-9a-f]{32})$")


@register.filter
def short(value: str, n: int = 14) -> str:
    """At most n characters and an ellipsis. Zentra's own ids keep their
    type and their last digits: they begin with the time they were made, so
    ids made in the same minute share their first digits."""
    value = str(value or "")
    if len(value) <= n:
        return value
    own = _OWN_ID.match(value)
    if own:
        return own.group(1) + "…" + own.group(2)[-max(n - len(own.group(1)) - 1, 4):]
    return value[:n] + "…"


@register.filter
def clip(value, n: int = 14):
    """`short` for a page: the shortened text with the whole value as its
    tooltip, so nothing a person may need is cut off for good."""
    value = str(value or "")
    shown = short(value, n)
    return shown if shown == value else format_html('<span title="{}">{}</span>', value, shown)


register.filter("who", who)
# A stored refusal (outcome body) in major units for a person.
register.filter("problem", problem_sentence)


@register.filter
def pretty(value) -> str:
    if value in (None, "", {}, []):
        return "—"
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)


@register.simple_tag
def new_form_key(prefix: str = "con") -> str:
    """Minted when the form is rendered: the submit carries it, so a double
    click or a refresh is the same request, answered once."""
    return f"{prefix}_{uuid.uuid4().hex}"


@register.inclusion_tag("console/_nav.html", takes_context=True)
def console_nav(context):
    request = context["request"]
    user = request.user
    items = [i for i in NAV if user.is_authenticated and user.can(i.capability)]
    pending = None
    if any(i.url_name == "console:approvals" for i in items):
        pending = ApprovalRequest.objects.filter(status="pending").count()
    sections = []
    for section, group in groupby(items, key=lambda i: i.section):
        sections.append((section, [{
            "label": i.label, "url": reverse(i.url_name), "active": bool(re.match(i.prefix, request.path)),
            "badge": pending if i.url_name == "console:approvals" and pending else None,
        } for i in group]))
    return {"sections": sections}


@register.filter
def can(user, capability: str) -> bool:
    """`{% if user|can:"post" %}`: show an action only to roles that may take it."""
    return bool(getattr(user, "is_authenticated", False) and user.can(capability))
