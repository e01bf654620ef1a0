"""Filter sets shared by the list API (query string) and exports (JSON body):
one definition, so a browse and an export of "the same filters" select the
same rows."""
from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from audit.chain import canonical_json
from core import errors


class FilterSerializer(serializers.Serializer):
    """Unknown keys are `unknown_filter` (a typo must not silently return
    everything); an inverted range is `invalid_range`."""

    ranges: tuple[tuple[str, str], ...] = ()

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise errors.ValidationFailed("Filters must be a JSON object.", field="filters")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise errors.UnknownFilter(
                f"Unknown filters: {', '.join(unknown)}.", filters=unknown, allowed=sorted(self.fields),
            )
        value = super().to_internal_value(data)
        for lo, hi in self.ranges:
            if value.get(lo) is not None and value.get(hi) is not None and value[lo] > value[hi]:
                raise errors.InvalidRange(f"'{lo}' is after '{hi}'.", fields=[lo, hi])
        return value


def filters_parse(serializer_class: type[FilterSerializer], data: Any) -> dict:
    s = serializer_class(data=data)
    s.is_valid(raise_exception=True)
    return dict(s.validated_data)


def filters_normalized(validated: dict) -> dict:
    """The JSON form stored with an export and printed in its manifest;
    parsing it again yields the same validated filters."""
    return json.loads(canonical_json(validated))


class AuditEventFilters(FilterSerializer):
    occurred_after = serializers.DateTimeField(required=False, help_text="occurred_at >= this instant")
    occurred_before = serializers.DateTimeField(required=False, help_text="occurred_at < this instant")
    actor = serializers.CharField(required=False, max_length=200, help_text="actor_ref, e.g. api_key:ab12cd34ef56")
    action = serializers.CharField(required=False, max_length=80)
    target_type = serializers.CharField(required=False, max_length=60)
    target_id = serializers.CharField(required=False, max_length=100)
    account = serializers.CharField(
        required=False, max_length=64,
        help_text="Account code: the event's target, or metadata.account / metadata.accounts[]",
    )
    correlation_id = serializers.CharField(required=False, max_length=128)

    ranges = (("occurred_after", "occurred_before"),)
