"""Forms only parse. Every one that changes something carries the hidden key
minted when it was rendered (`form_key`, or for money `idempotency_key`)."""
from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from ledger.currencies import is_known
from ledger.models import AccountKind, AccountStatus, PolicyKind
from ledger.services.boundary import KEY_RE

MAX_MINOR = 2**63 - 1


def _clean_key(value: str) -> str:
    if not value or not KEY_RE.match(value):
        raise forms.ValidationError("This form has no valid submission key; reload the page.", code="form_key")
    return value


class KeyedForm(forms.Form):
    form_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def clean_form_key(self) -> str:
        return _clean_key(self.cleaned_data.get("form_key", ""))


class ManualEntryForm(forms.Form):
    debit = forms.ChoiceField(label="Debit account")
    credit = forms.ChoiceField(label="Credit account")
    amount_minor = forms.IntegerField(label="Amount (minor units)", min_value=1, max_value=MAX_MINOR,
                                      help_text="Whole minor units: 125000 is 1,250.00 USD.")
    description = forms.CharField(max_length=1000, required=False)
    external_reference = forms.CharField(max_length=255, required=False)
    source_event = forms.CharField(max_length=255, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.accounts = {a.code: a for a in accounts}
        choices = [("", "Choose an account…")] + [
            (a.code, f"{a.code} — {a.name} ({a.currency})") for a in accounts]
        self.fields["debit"].choices = choices
        self.fields["credit"].choices = choices

    def clean_idempotency_key(self) -> str:
        return _clean_key(self.cleaned_data.get("idempotency_key", ""))

    def clean(self):
        data = super().clean()
        debit, credit = data.get("debit"), data.get("credit")
        if debit and credit:
            if debit == credit:
                raise forms.ValidationError("Debit and credit must be different accounts.")
            if self.accounts[debit].currency != self.accounts[credit].currency:
                raise forms.ValidationError(
                    f"Both accounts must be in one currency ({self.accounts[debit].currency} vs "
                    f"{self.accounts[credit].currency}).")
            data["currency"] = self.accounts[debit].currency
        return data


class DecisionForm(KeyedForm):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    note = forms.CharField(max_length=500, required=False)


class PolicyParamsMixin(forms.Form):
    amount_minor = forms.IntegerField(required=False, min_value=0, max_value=MAX_MINOR,
                                      label="Limit (minor units)",
                                      help_text="Threshold, maximum or overdraft limit, depending on the kind.")
    currency = forms.CharField(required=False, max_length=3, label="Currency (optional)")
    currencies = forms.CharField(required=False, max_length=200, label="Allowed currencies",
                                 help_text="Comma separated, e.g. USD, EUR")

    PARAM = {
        PolicyKind.APPROVAL_THRESHOLD: "threshold_minor",
        PolicyKind.MAX_AMOUNT: "max_amount_minor",
        PolicyKind.NO_NEGATIVE_AVAILABLE: "overdraft_limit_minor",
    }

    def params_for(self, kind: str) -> dict:
        data = self.cleaned_data
        if kind == PolicyKind.ALLOWED_CURRENCIES:
            codes = [c.strip().upper() for c in (data.get("currencies") or "").split(",") if c.strip()]
            return {"currencies": codes}
        params: dict = {}
        if data.get("amount_minor") is not None:
            params[self.PARAM[kind]] = data["amount_minor"]
        currency = (data.get("currency") or "").strip().upper()
        if currency and kind in (PolicyKind.APPROVAL_THRESHOLD, PolicyKind.MAX_AMOUNT):
            if not is_known(currency):
                raise forms.ValidationError(f"'{currency}' is not an ISO 4217 currency.")
            params["currency"] = currency
        return params


class PolicyCreateForm(KeyedForm, PolicyParamsMixin):
    name = forms.CharField(max_length=64)
    kind = forms.ChoiceField(choices=PolicyKind.choices)
    applies_to_all = forms.BooleanField(required=False, label="Applies to every account")
    description = forms.CharField(max_length=500, required=False)

    def clean(self):
        data = super().clean()
        if data.get("kind"):
            data["params"] = self.params_for(data["kind"])
        return data


class PolicyReviseForm(KeyedForm, PolicyParamsMixin):
    applies_to_all = forms.BooleanField(required=False, label="Applies to every account")
    active = forms.BooleanField(required=False)
    description = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def clean(self):
        data = super().clean()
        data["params"] = self.params_for(self.kind)
        return data


class AccountFilterForm(forms.Form):
    code = forms.CharField(required=False, max_length=64, label="Code starts with")
    currency = forms.CharField(required=False, max_length=3)
    status = forms.ChoiceField(required=False, choices=[("", "Any status")] + AccountStatus.choices)
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind")] + AccountKind.choices)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value, dt.timezone.utc)
    return value


class RangeMixin(forms.Form):
    start = forms.DateTimeField(required=False, label="From (UTC)",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(required=False, label="To (UTC)",
                              widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def clean(self):
        data = super().clean()
        data["start"], data["end"] = _aware(data.get("start")), _aware(data.get("end"))
        if data["start"] and data["end"] and data["start"] > data["end"]:
            raise forms.ValidationError("‘From’ is after ‘To’.")
        return data


class EntryFilterForm(RangeMixin):
    account = forms.CharField(required=False, max_length=64, label="Account code")
    external_reference = forms.CharField(required=False, max_length=255, label="External reference")
    idempotency_key = forms.CharField(required=False, max_length=255, label="Idempotency key")


class AuditFilterForm(RangeMixin):
    actor = forms.CharField(required=False, max_length=200,
                            help_text="as the table shows it: alice, API key ab12…, system · demo_seed")
    action = forms.ChoiceField(required=False, choices=())
    correlation_id = forms.CharField(required=False, max_length=128, label="Correlation id")
    target = forms.CharField(required=False, max_length=170, help_text="type or type:id")

    def __init__(self, *args, actions: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "any action")] + [(a, a) for a in actions]

    def audit_filters(self) -> dict:
        """The audit app's filters (audit.filters.AuditEventFilters) for
        what the form holds: the list and its export select the same rows."""
        f = self.cleaned_data if self.is_bound else {}
        out = {"occurred_after": f.get("start"), "occurred_before": f.get("end"), "actor": f.get("actor"),
               "action": f.get("action"), "correlation_id": f.get("correlation_id")}
        if target := f.get("target"):
            kind, _, ident = target.partition(":")
            out["target_type"], out["target_id"] = kind, ident or None
        return {k: v for k, v in out.items() if v not in (None, "")}


class TenantCreateForm(KeyedForm):
    slug = forms.SlugField(max_length=40)
    name = forms.CharField(max_length=200)
    domain = forms.CharField(max_length=253, required=False,
                             help_text="Defaults to <slug>.<base domain>")
    admin_username = forms.CharField(max_length=150, label="First admin username")
    admin_password = forms.CharField(widget=forms.PasswordInput, min_length=10, label="First admin password")
