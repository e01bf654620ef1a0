from rest_framework import serializers

from closeout.models import ClosedPeriodEntries, PeriodLength, PeriodStatus, ReopenStatus
from core.api import StrictSerializer


class PeriodIn(StrictSerializer):
    name = serializers.CharField(max_length=40)
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()


class ReopenIn(StrictSerializer):
    reason = serializers.CharField(max_length=500)


class SettingsIn(StrictSerializer):
    period_length = serializers.ChoiceField(choices=PeriodLength.choices, required=False)
    closed_period_entries = serializers.ChoiceField(choices=ClosedPeriodEntries.choices, required=False)


class SettingsOut(serializers.Serializer):
    period_length = serializers.ChoiceField(choices=PeriodLength.choices)
    closed_period_entries = serializers.ChoiceField(choices=ClosedPeriodEntries.choices)
    closed_through = serializers.DateTimeField(allow_null=True)


class PeriodOut(serializers.Serializer):
    object = serializers.CharField()
    id = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=PeriodStatus.choices)
    created_by = serializers.CharField(required=False)
    closing_at = serializers.DateTimeField(allow_null=True, required=False)
    closing_by = serializers.CharField(allow_null=True, required=False)
    closed_at = serializers.DateTimeField(allow_null=True, required=False)
    closed_by = serializers.CharField(allow_null=True, required=False)
    reopen_count = serializers.IntegerField(required=False)
    snapshot_id = serializers.IntegerField(allow_null=True, required=False)


class ReopenOut(serializers.Serializer):
    object = serializers.CharField()
    id = serializers.CharField()
    period = serializers.CharField()
    status = serializers.ChoiceField(choices=ReopenStatus.choices)
    reason = serializers.CharField()
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField()
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_note = serializers.CharField(allow_blank=True)


class ReopenOrPeriodOut(serializers.Serializer):
    """A closing period reopens at once (the period); a closed one files a
    request for a second person (the request)."""

    object = serializers.CharField()
    id = serializers.CharField(allow_null=True)
    status = serializers.CharField()


class TrialBalanceRowOut(serializers.Serializer):
    account_id = serializers.IntegerField()
    account_code = serializers.CharField()
    currency = serializers.CharField()
    normal_side = serializers.CharField()
    opening_minor = serializers.IntegerField()
    debits_minor = serializers.IntegerField()
    credits_minor = serializers.IntegerField()
    closing_minor = serializers.IntegerField()
    lines_count = serializers.IntegerField()


class CurrencyTotalsOut(serializers.Serializer):
    debits_minor = serializers.IntegerField()
    credits_minor = serializers.IntegerField()
    opening_net_debit_minor = serializers.IntegerField()
    closing_net_debit_minor = serializers.IntegerField()
    accounts = serializers.IntegerField()
    ties_out = serializers.BooleanField()


class TrialBalanceOut(serializers.Serializer):
    object = serializers.CharField()
    period = PeriodOut()
    source = serializers.CharField(help_text="snapshot (a closed period's sealed rows) or computed")
    basis = serializers.CharField(help_text="previous_snapshot, current_balance or snapshot")
    snapshot_id = serializers.IntegerField(allow_null=True)
    totals = serializers.DictField(child=CurrencyTotalsOut())
    ties_out = serializers.BooleanField()
    account_count = serializers.IntegerField()
    next_after = serializers.CharField(allow_null=True, help_text="Pass as `after` for the next page")
    results = TrialBalanceRowOut(many=True)


class BalanceAtOut(serializers.Serializer):
    at = serializers.DateTimeField()
    posted = serializers.IntegerField()
    pending = serializers.IntegerField()
    available = serializers.IntegerField()
    last_line_id = serializers.IntegerField(allow_null=True)


class BalanceChangeLineOut(serializers.Serializer):
    line_id = serializers.IntegerField()
    entry_id = serializers.IntegerField()
    posting_id = serializers.CharField()
    kind = serializers.CharField()
    posted_at = serializers.DateTimeField()
    effective_at = serializers.DateTimeField()
    side = serializers.CharField()
    amount_minor = serializers.IntegerField()
    signed_amount_minor = serializers.IntegerField()
    balance_before = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    actor = serializers.CharField()
    actor_kind = serializers.CharField()
    source_event = serializers.CharField(allow_blank=True)
    external_reference = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True)
    idempotency_key = serializers.CharField()
    correlation_id = serializers.CharField()
    policy_decisions = serializers.JSONField()
    reversal_of = serializers.IntegerField(allow_null=True)
    closeout = serializers.JSONField(allow_null=True, help_text="Set when a closed period moved the entry")
    evidence = serializers.DictField(child=serializers.CharField())


class BalanceChangeOut(serializers.Serializer):
    object = serializers.CharField()
    account = serializers.CharField()
    account_id = serializers.IntegerField()
    currency = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    opening = BalanceAtOut()
    closing = BalanceAtOut()
    change_minor = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = BalanceChangeLineOut(many=True)
