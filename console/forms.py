"""Forms only parse. Every one that changes something carries the hidden key
minted when it was rendered (`form_key`, or for money `idempotency_key`)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import forms
from django.utils import timezone

from ledger.currencies import CURRENCIES, is_known
from ledger.models import AccountKind, AccountStatus, HoldStatus, PolicyKind
from ledger.services.boundary import KEY_RE

MAX_MINOR = 2**63 - 1


def _major(minor: int, currency: str) -> str:
    exp = CURRENCIES.get(currency, 2)
    whole, frac = divmod(minor, 10**exp)
    return f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")


def _clean_key(value: str) -> str:
    if not value or not KEY_RE.match(value):
        raise forms.ValidationError("This form has no valid submission key; reload the page.", code="form_key")
    return value


def minor_from_major(text: str, currency: str | None) -> int:
    """What an operator types (`12.50`, `1,250`) -> exact minor units of the
    currency; never a float. `currency=None` accepts up to 3 decimals and
    reads them as cents (filters over mixed currencies)."""
    raw = (text or "").strip().replace(",", "").replace("\u2009", "").replace(" ", "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise forms.ValidationError("Type an amount in major units, e.g. 12.50.", code="not_a_number") from None
    if not value.is_finite():
        raise forms.ValidationError("Type an amount in major units, e.g. 12.50.", code="not_a_number")
    exp = CURRENCIES.get(currency, 2) if currency else 2
    if value <= 0:
        raise forms.ValidationError("The amount must be more than zero.", code="not_positive")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise forms.ValidationError(f"{currency or 'This amount'} has {exp} decimal places at most.",
                                    code="too_precise")
    if minor > MAX_MINOR:
        raise forms.ValidationError("The amount is too large.", code="too_large")
    return int(minor)


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


ENTRY_STATUSES = [("", "Any status"), ("open", "Not reversed"), ("reversed", "Reversed (fully or partly)"),
                  ("reversal", "Is a reversal"), ("hold_capture", "Hold capture")]


class EntryFilterForm(RangeMixin):
    account = forms.CharField(required=False, max_length=64, label="Account code")
    external_reference = forms.CharField(required=False, max_length=255, label="External reference")
    idempotency_key = forms.CharField(required=False, max_length=255, label="Idempotency key")
    actor = forms.CharField(required=False, max_length=200, label="Actor", help_text="e.g. alice, api_key:, system:")
    status = forms.ChoiceField(required=False, choices=ENTRY_STATUSES)
    amount_min = forms.CharField(required=False, max_length=32, label="Amount from",
                                 widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "12.50"}))
    amount_max = forms.CharField(required=False, max_length=32, label="Amount to",
                                 widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "1000"}))
    effective_start = forms.DateTimeField(required=False, label="Effective from (UTC)",
                                          widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    effective_end = forms.DateTimeField(required=False, label="Effective to (UTC)",
                                        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def _amount(self, name: str) -> int | None:
        raw = self.cleaned_data.get(name)
        return minor_from_major(raw, None) if raw else None

    def clean_amount_min(self) -> int | None:
        return self._amount("amount_min")

    def clean_amount_max(self) -> int | None:
        return self._amount("amount_max")

    def clean(self):
        data = super().clean()
        data["effective_start"], data["effective_end"] = _aware(data.get("effective_start")), _aware(data.get("effective_end"))
        lo, hi = data.get("amount_min"), data.get("amount_max")
        if lo is not None and hi is not None and lo > hi:
            raise forms.ValidationError("‘Amount from’ is more than ‘Amount to’.")
        return data


class HoldFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), ("open", "Open")]
                               + HoldStatus.choices)
    account = forms.CharField(required=False, max_length=64, label="Account code")
    older_than_days = forms.IntegerField(required=False, min_value=0, max_value=3660, label="Older than (days)")
    expiring_within_hours = forms.IntegerField(required=False, min_value=1, max_value=24 * 366,
                                               label="Expiring within (hours)")


class HoldCaptureForm(KeyedForm):
    amount = forms.CharField(required=False, max_length=32, label="Amount",
                             help_text="In major units, e.g. 12.50. Empty captures all that remains.",
                             widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    destination = forms.ChoiceField(required=False, label="Destination account")
    release_remainder = forms.BooleanField(required=False, label="Release the rest after this capture")
    description = forms.CharField(required=False, max_length=1000)

    def __init__(self, *args, hold, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.hold = hold
        self.accounts = {a.code: a for a in accounts if a.currency == hold.currency and a.id != hold.account_id}
        default = f"The hold's destination ({hold.destination.code})" if hold.destination_id else "Choose an account…"
        self.fields["destination"].choices = [("", default)] + [
            (code, f"{code} — {a.name}") for code, a in self.accounts.items()]

    def clean_amount(self) -> int | None:
        raw = self.cleaned_data.get("amount")
        if not raw:
            return None
        minor = minor_from_major(raw, self.hold.currency)
        if minor > self.hold.remaining_minor:
            raise forms.ValidationError(
                f"The hold only reserves {_major(self.hold.remaining_minor, self.hold.currency)} "
                f"{self.hold.currency} now.", code="exceeds_hold")
        return minor

    def clean_destination(self) -> str | None:
        code = self.cleaned_data.get("destination") or None
        if code is None and not self.hold.destination_id:
            raise forms.ValidationError("This hold has no destination; choose the account to capture into.",
                                        code="destination_required")
        return code


class HoldReleaseForm(KeyedForm):
    reason = forms.CharField(required=False, max_length=500)


class ReverseForm(KeyedForm):
    amount = forms.CharField(required=False, max_length=32, label="Amount",
                             help_text="In major units. Empty reverses all that remains of the entry.",
                             widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    description = forms.CharField(required=False, max_length=1000, label="Reason")

    def __init__(self, *args, currency: str | None, remaining_minor: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency, self.remaining_minor = currency, remaining_minor

    def clean_amount(self) -> int | None:
        raw = self.cleaned_data.get("amount")
        if not raw:
            return None
        if self.currency is None:
            raise forms.ValidationError("This entry moves several currencies; reverse it in full (leave the amount "
                                        "empty).", code="partial_unsupported")
        minor = minor_from_major(raw, self.currency)
        if minor > self.remaining_minor:
            raise forms.ValidationError(
                f"Only {_major(self.remaining_minor, self.currency)} {self.currency} of this entry is left to "
                "reverse.", code="exceeds_original")
        return minor


class AccountStatusForm(KeyedForm):
    action = forms.ChoiceField(choices=[("freeze", "Freeze"), ("unfreeze", "Unfreeze"), ("close", "Close")])


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


class WebhookEndpointForm(KeyedForm):
    url = forms.CharField(max_length=2048, label="URL", help_text="https://… on the public internet")
    event_types = forms.CharField(
        max_length=2000, initial="*", label="Event types",
        help_text="Comma separated: exact types (ledger.entry.created), families (ledger.*, ledger.hold.*) or *.")
    description = forms.CharField(max_length=500, required=False)

    def clean_event_types(self) -> list[str]:
        raw = self.cleaned_data.get("event_types", "")
        types = [t.strip() for t in raw.replace("\n", ",").split(",") if t.strip()]
        if not types:
            raise forms.ValidationError("Name at least one event type, family or *.")
        return types


class WebhookEndpointActionForm(KeyedForm):
    action = forms.ChoiceField(choices=[("disable", "Disable"), ("enable", "Enable"), ("rotate", "Rotate secret"),
                                        ("recover", "Recover since")])
    since = forms.DateTimeField(required=False, label="Since (UTC)",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}))

    def clean(self):
        data = super().clean()
        data["since"] = _aware(data.get("since"))
        if data.get("action") == "recover" and data["since"] is None:
            raise forms.ValidationError(
                "Pick the time the outage began: deliveries that failed since then are sent again.")
        return data


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[
        ("", "Any status"), ("failing", "Failing (last attempt failed)"), ("pending", "Pending"),
        ("succeeded", "Succeeded"), ("failed", "Failed (dead letter)"),
    ])
    type = forms.CharField(required=False, max_length=80, label="Event type", help_text="exact or family: ledger.*")
    endpoint = forms.CharField(required=False, max_length=40, label="Endpoint id")


class ResendFailedForm(forms.Form):
    since = forms.DateTimeField(label="Failed since (UTC)",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"},
                                                           format="%Y-%m-%dT%H:%M:%S"))
    type = forms.CharField(required=False, max_length=80, label="Event type")
    endpoint = forms.CharField(required=False, max_length=40, label="Endpoint id")

    def clean_since(self):
        return _aware(self.cleaned_data.get("since"))


class ResendFailedConfirmForm(ResendFailedForm, KeyedForm):
    pass
# --- reconciliation -----------------------------------------------------------
class StatementUploadForm(KeyedForm):
    FORMATS = [("generic_csv", "Generic CSV (any provider): reference, amount_minor, currency, booked_at, description"),
               ("stripe_balance_csv", "Stripe: itemized balance transactions export")]
    file = forms.FileField(label="Statement file (CSV)")
    format = forms.ChoiceField(choices=FORMATS, label="Provider / format")
    account = forms.ChoiceField(label="Settlement or clearing account")
    date_window_days = forms.IntegerField(min_value=0, max_value=31, initial=3, label="Date window (days)",
                                          help_text="How far a line's date may be from its entry's when no reference pairs them.")
    amount_basis = forms.ChoiceField(choices=[("net", "Net (what moved the balance)"), ("gross", "Gross")],
                                     initial="net", required=False, label="Stripe amount basis")

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.accounts = {a.code: a for a in accounts}
        self.fields["account"].choices = [("", "Choose an account…")] + [
            (a.code, f"{a.code} — {a.name} ({a.currency})") for a in accounts]


class ItemMatchForm(KeyedForm):
    entry = forms.CharField(max_length=255, label="Entry",
                            help_text="Its posting id (pst_…), id or external reference.")


class ItemAdjustForm(KeyedForm):
    counter_account = forms.ChoiceField(label="Counter account")
    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.accounts = {a.code: a for a in accounts}
        self.fields["counter_account"].choices = [("", "Choose an account…")] + [
            (a.code, f"{a.code} — {a.name} ({a.currency})") for a in accounts]


class ItemExplainForm(KeyedForm):
    note = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


# --- people -------------------------------------------------------------------
class UserCreateForm(KeyedForm):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=[])

    def __init__(self, *args, roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles


class UserRoleForm(KeyedForm):
    role = forms.ChoiceField(choices=[])

    def __init__(self, *args, roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles


class UserDeactivateForm(KeyedForm):
    confirm = forms.BooleanField(required=True, label="Yes, deactivate")
