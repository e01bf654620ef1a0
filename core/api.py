"""Shared pieces for every DRF view: strict serializers and cursor pages."""
from __future__ import annotations

import copy
import json

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser

from core import errors
from core.ids import int_from_text
from django.utils.dateparse import parse_date, parse_datetime
import datetime as dt
from drf_spectacular.utils import inline_serializer


class StrictSerializer(serializers.Serializer):
    """Rejects fields the endpoint does not know (mass assignment, typos)."""

    def get_fields(self):
        # DRF deep-copies every declared field for every serializer instance,
        # which re-runs each field's __init__: on POST /v1/ledger-entries that
        # was a tenth of the request's CPU. A field's per-request state is
        # what bind() sets on it, so a shallow copy per instance serves as
        # well. A nested serializer's copy shares its child and the child's
        # fields: bound once, to the class's own (never to a request's)
        # serializer, and validating writes nothing on them (ListSerializer
        # passes each item to child.run_validation and keeps no state).
        return {name: copy.copy(f) for name, f in self._declared_fields.items()}

    def to_internal_value(self, data):
        if has_nul(data):
            raise errors.ValidationFailed("Strings may not contain NUL (\\u0000) characters.")
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


def has_nul(value) -> bool:
    # PostgreSQL text cannot hold NUL: without this check such a value is a
    # DataError (500) at the INSERT or the WHERE, not a 400. A loop, not
    # recursion: no input nests deep enough to overflow the stack here.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_depth_check(value, *, limit: int | None = None) -> None:
    """Refuse JSON nested deeper than JSON_MAX_DEPTH (objects and arrays).
    Everything downstream (serializers, json.dumps, jsonb) recurses, so a
    body nested a few hundred levels deep ended in RecursionError: a 500 and
    a traceback the size of the body. Iterative, so the check itself cannot
    overflow."""
    limit = settings.JSON_MAX_DEPTH if limit is None else limit
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise errors.PayloadTooDeep(f"JSON may nest at most {limit} objects or arrays deep.", limit=limit)
        stack.extend((child, depth + 1) for child in children)


def json_loads_bounded(text: str, **kwargs):
    """json.loads, then the depth check; Python's own decoder gives up with
    RecursionError somewhere near 1000 levels, which is the same refusal."""
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise errors.PayloadTooDeep(f"JSON may nest at most {settings.JSON_MAX_DEPTH} objects or arrays deep.",
                                    limit=settings.JSON_MAX_DEPTH) from None
    json_depth_check(value)
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the nesting bound (json_depth_check)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            return json_loads_bounded(text, parse_constant=_reject_constant)
        except errors.PayloadTooDeep:
            raise
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from None


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    pass


class CheckedCursorMixin:
    """A cursor is the client's text: one that does not decode, or whose
    position is not a value of the ordering field (an id past bigint, SQL
    in place of a number), is 400 invalid_cursor. DRF answers the first
    with 404 and passes the second to the WHERE clause: a 500."""

    def paginate_queryset(self, queryset, request, view=None):
        self._cursor_model = queryset.model
        return super().paginate_queryset(queryset, request, view=view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise errors.InvalidCursor("The cursor is not one this API issued; use the `next` or `previous` link.",
                                       field="cursor") from None
        if cursor is not None and cursor.position is not None and not self._position_ok(cursor.position):
            raise errors.InvalidCursor("The cursor is not one this API issued; use the `next` or `previous` link.",
                                       field="cursor")
        return cursor

    def _position_ok(self, position: str) -> bool:
        ordering = self.ordering  # paginate_queryset resolved it before decoding the cursor
        name = (ordering[0] if isinstance(ordering, (list, tuple)) else ordering).lstrip("-")
        try:
            f = self._cursor_model._meta.get_field(name)
        except FieldDoesNotExist:
            return not has_nul(position)
        if isinstance(f, (models.AutoField, models.IntegerField)) or getattr(f, "target_field", None) is not None:
            return int_from_text(position) is not None
        try:
            f.to_python(position)
        except (ValidationError, ValueError, TypeError):
            return False
        return not has_nul(position)


class ZentraCursorPagination(CheckedCursorMixin, CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-id"

    def get_page_size(self, request):
        # The cap is the tenant's (tenants.authentication stored its limits on
        # the request); a larger `limit` is clamped, as DRF does for the default.
        limits = getattr(getattr(request, "_request", request), "zentra_limits", None)
        if limits is not None:
            self.max_page_size = limits.max_page_size
            self.page_size = min(self.page_size, self.max_page_size)
        return super().get_page_size(request)


def query_params_clean(request, allowed: set[str]) -> dict[str, str]:
    """Unknown query parameters are an error, not silently ignored: a typo in
    a filter must not return everything."""
    allowed = allowed | {"cursor", "limit"}
    if any(has_nul(k) or has_nul(v) for k, v in request.query_params.items()):
        raise errors.ValidationFailed("Query parameters may not contain NUL characters.")
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise errors.UnknownFilter(f"Unknown query parameters: {', '.join(unknown)}.", allowed=sorted(allowed))
    return {k: request.query_params.get(k) for k in request.query_params}


def serializer_query(serializer_cls, request) -> dict:
    """Query parameters through an input serializer (400 problem on error)."""
    query = serializer_cls(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    return query.validated_data


def serializer_body(serializer_cls, request) -> dict:
    """The JSON body through an input serializer; an empty body is {}."""
    body = serializer_cls(data=request.data if request.data is not None else {})
    body.is_valid(raise_exception=True)
    return body.validated_data


def datetime_param(params: dict[str, str], name: str):
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = parse_datetime(raw)
        if value is None:
            d = parse_date(raw)
            value = dt.datetime(d.year, d.month, d.day) if d else None
    except ValueError:
        value = None
    if value is None:
        raise errors.ValidationFailed(f"'{name}' must be an ISO 8601 date or datetime.", field=name)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def range_params(params: dict[str, str], start: str, end: str):
    lo, hi = datetime_param(params, start), datetime_param(params, end)
    if lo and hi and lo > hi:
        raise errors.InvalidRange(f"'{start}' is after '{end}'.")
    return lo, hi


def cursor_page_schema(item, *, name: str, cursor: bool = True):
    """OpenAPI shape of a list response: `{next, previous, results}` (what
    ZentraCursorPagination answers), not a bare array. For @extend_schema."""
    fields = {"results": item(many=True)}
    if cursor:
        fields = {"next": serializers.CharField(allow_null=True), "previous": serializers.CharField(allow_null=True),
                  **fields}
    return inline_serializer(name=name, fields=fields)
