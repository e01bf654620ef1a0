from rest_framework import serializers

from core.api import StrictSerializer

from ..models import AmountBasis, ItemKind, ItemStatus, RunStatus, StatementFormat
from ..services.imports import MAX_WINDOW_DAYS
from ..services.resolution import ACTIONS, MAX_NOTE


class ReconciliationImportIn(StrictSerializer):
    """multipart/form-data."""

    file = serializers.FileField(allow_empty_file=True, help_text="The statement, CSV in UTF-8")
    format = serializers.ChoiceField(choices=StatementFormat.choices)
    account = serializers.CharField(max_length=64, help_text="The settlement/clearing account (id or code)")
    date_window_days = serializers.IntegerField(min_value=0, max_value=MAX_WINDOW_DAYS, required=False, default=3)
    amount_basis = serializers.ChoiceField(choices=AmountBasis.choices, required=False, default=AmountBasis.NET,
                                           help_text="stripe_balance_csv only: compare net (default) or gross")
    period_start = serializers.DateTimeField(required=False, help_text="Default: 00:00 UTC of the first line's day")
    period_end = serializers.DateTimeField(required=False, help_text="Exclusive. Default: the day after the last line")


class ReconciliationRerunIn(StrictSerializer):
    date_window_days = serializers.IntegerField(min_value=0, max_value=MAX_WINDOW_DAYS, required=False)


class ItemResolveIn(StrictSerializer):
    action = serializers.ChoiceField(choices=[(a, a) for a in ACTIONS])
    note = serializers.CharField(required=False, allow_blank=True, max_length=MAX_NOTE, default="")
    counter_account = serializers.CharField(required=False, max_length=64,
                                            help_text="adjust only: the other side of the adjusting entry (id or code)")


class TotalOut(serializers.Serializer):
    currency = serializers.CharField()
    statement_total_minor = serializers.IntegerField()
    ledger_total_minor = serializers.IntegerField()
    difference_minor = serializers.IntegerField()


class CountsOut(serializers.Serializer):
    matched = serializers.IntegerField()
    missing_in_ledger = serializers.IntegerField()
    missing_at_provider = serializers.IntegerField()
    amount_drift = serializers.IntegerField()
    currency_drift = serializers.IntegerField()
    duplicate_in_statement = serializers.IntegerField()


class ReconciliationOut(serializers.Serializer):
    id = serializers.IntegerField()
    object = serializers.CharField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    account = serializers.CharField()
    account_id = serializers.IntegerField()
    currency = serializers.CharField()
    format = serializers.ChoiceField(choices=StatementFormat.choices)
    amount_basis = serializers.CharField(allow_null=True)
    file_name = serializers.CharField()
    file_sha256 = serializers.CharField()
    file_size = serializers.IntegerField()
    date_window_days = serializers.IntegerField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    lines_total = serializers.IntegerField()
    lines_processed = serializers.IntegerField()
    counts = CountsOut()
    totals = TotalOut(many=True)
    error = serializers.DictField(allow_null=True)
    rerun_of = serializers.IntegerField(allow_null=True)
    attempts = serializers.IntegerField()
    reimport_count = serializers.IntegerField()
    actor = serializers.CharField()
    correlation_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    duplicate_of = serializers.IntegerField(required=False, help_text="Set when the same file was imported before")


class StatementSideOut(serializers.Serializer):
    line = serializers.IntegerField()
    reference = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    booked_at = serializers.DateTimeField()
    description = serializers.CharField()
    details = serializers.DictField(allow_null=True)


class LedgerSideOut(serializers.Serializer):
    entry_id = serializers.IntegerField()
    posting_id = serializers.CharField()
    external_reference = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    effective_at = serializers.DateTimeField()


class ResolutionOut(serializers.Serializer):
    note = serializers.CharField()
    adjusting_entry_id = serializers.IntegerField(allow_null=True)
    adjusting_posting_id = serializers.CharField(allow_null=True)
    resolved_by = serializers.CharField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    carried_from_item = serializers.IntegerField(allow_null=True)
    rejected_attempts = serializers.IntegerField()


class ItemOut(serializers.Serializer):
    id = serializers.IntegerField()
    object = serializers.CharField()
    reconciliation = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ItemKind.choices)
    status = serializers.ChoiceField(choices=ItemStatus.choices)
    match_rule = serializers.CharField(allow_null=True)
    statement = StatementSideOut(allow_null=True)
    ledger = LedgerSideOut(allow_null=True)
    difference_minor = serializers.IntegerField(allow_null=True)
    duplicate_of_line = serializers.IntegerField(allow_null=True)
    resolution = ResolutionOut()
