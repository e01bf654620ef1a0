from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger.models import AccountKind, PolicyKind, Side
from core.api import StrictSerializer
from ledger.services.boundary import KEY_PATTERN

from .fields import AccountRefField, MinorUnitsField
import json


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN,
                      "description": "1-255 printable ASCII, no leading or trailing whitespace; or the "
                                     "Idempotency-Key header (the same key if both are sent)"})
class _IdempotencyKey(serializers.CharField):
    """Checked by idempotency_key_clean (400 idempotency_key_invalid, the
    same answer as for the header), not here; the schema states the grammar."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_blank=True, trim_whitespace=False, max_length=1000, **kwargs)


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}], "description": "Account id or code"})
class _AccountRef(AccountRefField):
    pass


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1})
class _Minor(MinorUnitsField):
    pass


class LineIn(StrictSerializer):
    account = _AccountRef()
    side = serializers.ChoiceField(choices=Side.choices)
    amount_minor = _Minor()
    currency = serializers.CharField(min_length=3, max_length=3)


class EntryIn(StrictSerializer):
    """Either `lines`, or the shorthand `debit` + `credit` + `amount_minor` + `currency`."""

    lines = LineIn(many=True, required=False)
    debit = _AccountRef(required=False)
    credit = _AccountRef(required=False)
    amount_minor = _Minor(required=False)
    currency = serializers.CharField(min_length=3, max_length=3, required=False)
    idempotency_key = _IdempotencyKey()
    external_reference = serializers.CharField(required=False, allow_blank=True, max_length=255)
    source_event = serializers.CharField(required=False, allow_blank=True, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    effective_at = serializers.DateTimeField(required=False)
    metadata = serializers.DictField(required=False)

    def validate_metadata(self, value):
        if len(json.dumps(value)) > 16_384:
            raise serializers.ValidationError("metadata is limited to 16 KB.")
        return value

    def validate(self, attrs):
        shorthand = {"debit", "credit", "amount_minor", "currency"}
        given = shorthand & set(attrs)
        if "lines" in attrs and given:
            raise serializers.ValidationError("Send either lines or the debit/credit shorthand, not both.")
        if "lines" not in attrs:
            if given != shorthand:
                raise serializers.ValidationError(
                    "Send lines, or all of debit, credit, amount_minor and currency."
                )
        return attrs


class LineOut(serializers.Serializer):
    account = serializers.CharField()
    account_id = serializers.IntegerField()
    side = serializers.ChoiceField(choices=Side.choices)
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    balance_after = serializers.IntegerField()


class BalanceOut(serializers.Serializer):
    account = serializers.CharField()
    account_id = serializers.IntegerField()
    currency = serializers.CharField()
    posted = serializers.IntegerField()
    pending = serializers.IntegerField()
    available = serializers.IntegerField()


class EntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    posting_id = serializers.CharField()
    object = serializers.CharField()
    status = serializers.CharField()
    kind = serializers.CharField()
    tenant = serializers.CharField()
    idempotency_key = serializers.CharField()
    external_reference = serializers.CharField()
    source_event = serializers.CharField()
    description = serializers.CharField()
    effective_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    metadata = serializers.DictField()
    lines = LineOut(many=True)
    actor = serializers.CharField()
    correlation_id = serializers.CharField()
    policy_decisions = serializers.ListField(child=serializers.DictField())
    reversal_of = serializers.IntegerField(allow_null=True)
    balances = BalanceOut(many=True, required=False)
    event = serializers.CharField(required=False)
    event_id = serializers.CharField(required=False)


class AccountIn(StrictSerializer):
    code = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    currency = serializers.CharField(min_length=3, max_length=3)
    normal_side = serializers.ChoiceField(choices=Side.choices)
    kind = serializers.ChoiceField(choices=AccountKind.choices)
    metadata = serializers.DictField(required=False)
    policies = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50)


class AccountBalancesOut(serializers.Serializer):
    posted = serializers.IntegerField()
    pending = serializers.IntegerField()
    available = serializers.IntegerField()


class AccountOut(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    normal_side = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    metadata = serializers.DictField()
    policies = serializers.ListField(child=serializers.CharField())
    balances = AccountBalancesOut()
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class AccountPoliciesIn(StrictSerializer):
    policies = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50)


class StatementLineOut(serializers.Serializer):
    line_id = serializers.IntegerField()
    entry_id = serializers.IntegerField()
    posting_id = serializers.CharField()
    side = serializers.CharField()
    amount_minor = serializers.IntegerField()
    signed_amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    balance_after = serializers.IntegerField()
    posted_at = serializers.DateTimeField()
    effective_at = serializers.DateTimeField()
    external_reference = serializers.CharField()
    description = serializers.CharField()


class BalanceAsOfOut(serializers.Serializer):
    account = serializers.CharField()
    account_id = serializers.IntegerField()
    currency = serializers.CharField()
    as_of = serializers.DateTimeField(allow_null=True)
    posted = serializers.IntegerField()
    pending = serializers.IntegerField(allow_null=True)
    available = serializers.IntegerField(allow_null=True)
    last_line_id = serializers.IntegerField(allow_null=True)
    last_hold_movement_id = serializers.IntegerField(allow_null=True)


class PolicyIn(StrictSerializer):
    name = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=PolicyKind.choices)
    params = serializers.DictField(required=False, default=dict)
    applies_to_all = serializers.BooleanField(required=False, default=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class PolicyReviseIn(StrictSerializer):
    params = serializers.DictField(required=False)
    applies_to_all = serializers.BooleanField(required=False)
    active = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)


class PolicyOut(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    kind = serializers.CharField()
    params = serializers.DictField()
    applies_to_all = serializers.BooleanField()
    active = serializers.BooleanField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()


def _metadata_small(value):
    if len(json.dumps(value)) > 16_384:
        raise serializers.ValidationError("metadata is limited to 16 KB.")
    return value


class HoldCreateIn(StrictSerializer):
    account = _AccountRef()
    destination = _AccountRef(required=False, help_text="Where a capture moves the money (or name it at capture)")
    amount_minor = _Minor()
    currency = serializers.CharField(min_length=3, max_length=3)
    expires_at = serializers.DateTimeField(required=False, help_text="Released automatically after this instant")
    idempotency_key = _IdempotencyKey()
    external_reference = serializers.CharField(required=False, allow_blank=True, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    metadata = serializers.DictField(required=False, validators=[_metadata_small])


class HoldCaptureIn(StrictSerializer):
    amount_minor = _Minor(required=False, help_text="Default: everything the hold still reserves")
    destination = _AccountRef(required=False, help_text="Default: the destination named at hold creation")
    release_remainder = serializers.BooleanField(
        required=False, default=False, help_text="Release what is left after this capture and close the hold")
    idempotency_key = _IdempotencyKey()
    external_reference = serializers.CharField(required=False, allow_blank=True, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    metadata = serializers.DictField(required=False, validators=[_metadata_small])


class HoldReleaseIn(StrictSerializer):
    idempotency_key = _IdempotencyKey()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class HoldMovementOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    amount_minor = serializers.IntegerField()
    pending_delta = serializers.IntegerField()
    pending_after = serializers.IntegerField()
    entry_id = serializers.IntegerField(allow_null=True)
    at = serializers.DateTimeField()


class HoldOut(serializers.Serializer):
    id = serializers.IntegerField()
    hold_id = serializers.CharField()
    object = serializers.CharField()
    status = serializers.CharField()
    tenant = serializers.CharField()
    account = serializers.CharField()
    account_id = serializers.IntegerField()
    destination = serializers.CharField(allow_null=True)
    destination_id = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    amount_minor = serializers.IntegerField()
    captured_minor = serializers.IntegerField()
    released_minor = serializers.IntegerField()
    remaining_minor = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)
    idempotency_key = serializers.CharField()
    external_reference = serializers.CharField()
    description = serializers.CharField()
    metadata = serializers.DictField()
    actor = serializers.CharField()
    correlation_id = serializers.CharField()
    policy_decisions = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    balances = BalanceOut(many=True, required=False)
    released_now_minor = serializers.IntegerField(required=False)
    movements = HoldMovementOut(many=True, required=False)
    capture_entry_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    event = serializers.CharField(required=False)
    event_id = serializers.CharField(required=False)


class HoldCaptureOut(serializers.Serializer):
    object = serializers.CharField()
    hold = HoldOut()
    captured_minor = serializers.IntegerField()
    released_minor = serializers.IntegerField()
    entry = EntryOut()
    event = serializers.CharField()
    event_id = serializers.CharField()


class ReverseIn(StrictSerializer):
    amount_minor = _Minor(required=False, help_text="Partial reversal; default: all that is not yet reversed")
    idempotency_key = _IdempotencyKey()
    external_reference = serializers.CharField(required=False, allow_blank=True, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    metadata = serializers.DictField(required=False, validators=[_metadata_small])


class ReversalSummaryOut(serializers.Serializer):
    original_id = serializers.IntegerField()
    original_posting_id = serializers.CharField()
    amount_minor = serializers.IntegerField()
    original_total_minor = serializers.IntegerField()
    reversed_total_minor = serializers.IntegerField()
    remaining_minor = serializers.IntegerField()
    fully_reversed = serializers.BooleanField()


class ReversalOut(EntryOut):
    reversal = ReversalSummaryOut()


class ReversalRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    posting_id = serializers.CharField()
    amount_minor = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class EntryDetailOut(EntryOut):
    reversals = ReversalRefOut(many=True)
    reversed_minor = serializers.IntegerField()
    fully_reversed = serializers.BooleanField()


class BatchIn(StrictSerializer):
    mode = serializers.ChoiceField(choices=["atomic", "per_item"])
    entries = serializers.ListField(
        child=serializers.JSONField(),
        help_text="1-1000 entries, each a POST /v1/ledger-entries body with its own idempotency_key")


class BatchItemOut(serializers.Serializer):
    index = serializers.IntegerField()
    idempotency_key = serializers.CharField(allow_null=True)
    status = serializers.IntegerField()
    replayed = serializers.BooleanField()
    body = serializers.DictField(help_text="The entry (as POST /v1/ledger-entries answers) or a problem")


class BatchOut(serializers.Serializer):
    object = serializers.CharField()
    batch_id = serializers.CharField()
    mode = serializers.CharField()
    count = serializers.IntegerField()
    posted = serializers.IntegerField()
    replayed = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BatchItemOut(many=True)
