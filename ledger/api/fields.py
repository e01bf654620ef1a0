from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from ledger import errors
from core import errors as core_errors
from ledger.services.boundary import KEY_PATTERN

MAX_MINOR = 2**63 - 1


class MinorUnitsField(serializers.Field):
    """A JSON integer in 1..2^63-1. Floats (even 1.0), strings, booleans,
    fractions, zero and negatives are refused: money is never approximated."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Integer amount in minor units (e.g. cents), 1..9223372036854775807")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if type(data) is not int or not (0 < data <= MAX_MINOR):
            raise errors.InvalidAmount(
                f"{self.field_name} must be a JSON integer in minor units between 1 and 2^63-1; got {data!r}.",
                field=self.field_name,
            )
        return data

    def to_representation(self, value):
        return value


class AccountRefField(serializers.Field):
    """An account by id (JSON integer) or by code (string)."""

    def to_internal_value(self, data):
        if type(data) is int and data > 0:
            return data
        if isinstance(data, str) and 0 < len(data) <= 64:
            return data
        raise core_errors.ValidationFailed("An account is referenced by its id (integer) or code (string).", field=self.field_name)

    def to_representation(self, value):
        return value


def idempotency_header(description: str):
    """The Idempotency-Key header parameter, with the key's grammar as its pattern."""
    return OpenApiParameter("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255,
                                                "pattern": KEY_PATTERN},
                            OpenApiParameter.HEADER, required=False, description=description)
