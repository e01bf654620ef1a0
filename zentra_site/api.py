"""Shared pieces for every DRF view: strict serializers and cursor pages."""
from __future__ import annotations

from rest_framework import serializers
from rest_framework.pagination import CursorPagination

from ledger import errors


class StrictSerializer(serializers.Serializer):
    """Rejects fields the endpoint does not know (mass assignment, typos)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            read_only = sorted(k for k in data if k in self.fields and self.fields[k].read_only)
            if unknown or read_only:
                raise errors.UnknownField(
                    f"Fields not accepted here: {', '.join(unknown + read_only)}.", fields=unknown + read_only
                )
        elif not isinstance(data, dict):
            raise errors.ValidationFailed("The request body must be a JSON object.")
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    pass


class ZentraCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-id"
