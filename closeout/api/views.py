"""Closeout API: parse, authorize, call a service or selector, render."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from closeout import selectors
from core import errors as core_errors
from closeout.models import AccountingPeriod, PeriodStatus, ReopenStatus
from closeout.presenters import period_body, reopen_body, settings_body
from closeout.selectors import closed_through, settings_get
from closeout.services import periods as svc
from ledger import selectors as ledger_selectors
from ledger.presenters import iso
from core.api import ZentraCursorPagination, cursor_page_schema, datetime_param, query_params_clean

from . import serializers as s

TB_MAX_PAGE = 1000


def _period_out(period: AccountingPeriod | None, name: str, start, end) -> dict:
    if period is not None:
        return period_body(period)
    return {"object": "accounting_period", "id": None, "name": name, "start_at": iso(start), "end_at": iso(end),
            "status": "open"}


class PeriodListCreateApi(APIView):
    required_scopes = {"GET": "ledger:read", "POST": "admin"}

    @extend_schema(parameters=[OpenApiParameter("status", str)], operation_id="periods_list",
                   responses=cursor_page_schema(s.PeriodOut, name="PeriodPage"), summary="List stored accounting periods")
    def get(self, request):
        params = query_params_clean(request, {"status"})
        qs = selectors.period_list()
        if params.get("status") and params["status"] not in PeriodStatus.values:
            raise core_errors.ValidationFailed(f"status is one of {', '.join(PeriodStatus.values)}.", field="status")
        if params.get("status"):
            qs = qs.filter(status=params["status"])
        paginator = ZentraCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response([period_body(p) for p in page])

    @extend_schema(request=s.PeriodIn, responses={201: s.PeriodOut},
                   summary="Create a period with explicit bounds (default-named periods are created on first use)")
    def post(self, request):
        data = s.PeriodIn(data=request.data)
        data.is_valid(raise_exception=True)
        period = svc.period_create(actor=Actor.from_request(request), **data.validated_data)
        return Response(period_body(period), status=201)


class PeriodDetailApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.PeriodOut, summary="Get a period by name (2026-01, 2026-Q1, 2026) or id")
    def get(self, request, period_ref: str):
        period, name, start, end = selectors.period_lookup(period_ref)
        return Response(_period_out(period, name, start, end))


class PeriodClosingApi(APIView):
    required_scopes = {"POST": "admin"}

    @extend_schema(request=None, responses=s.PeriodOut,
                   summary="open -> closing: entries dated in the period are refused from now on")
    def post(self, request, period_ref: str):
        period = svc.period_begin_closing(actor=Actor.from_request(request), ref=period_ref)
        return Response(period_body(period))


class PeriodCloseApi(APIView):
    required_scopes = {"POST": "admin"}

    @extend_schema(request=None, responses=s.PeriodOut,
                   summary="Close a period: snapshot its period-end balances and seal them into the chain")
    def post(self, request, period_ref: str):
        period = svc.period_close(actor=Actor.from_request(request), ref=period_ref)
        return Response(period_body(period))


class PeriodReopenApi(APIView):
    required_scopes = {"POST": "admin"}

    @extend_schema(request=s.ReopenIn, responses={200: s.PeriodOut, 202: s.ReopenOut},
                   summary="Reopen: a closing period at once (200); a closed one files a request a second person "
                           "decides in the console (202)")
    def post(self, request, period_ref: str):
        data = s.ReopenIn(data=request.data)
        data.is_valid(raise_exception=True)
        out = svc.period_reopen_request(actor=Actor.from_request(request), ref=period_ref,
                                        reason=data.validated_data["reason"])
        if isinstance(out, AccountingPeriod):
            return Response(period_body(out))
        return Response(reopen_body(out), status=202)


class ReopenRequestListApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(parameters=[OpenApiParameter("status", str)], operation_id="period_reopen_requests_list",
                   responses=cursor_page_schema(s.ReopenOut, name="ReopenRequestPage"),
                   summary="List period reopen requests")
    def get(self, request):
        params = query_params_clean(request, {"status"})
        if params.get("status") and params["status"] not in ReopenStatus.values:
            raise core_errors.ValidationFailed(f"status is one of {', '.join(ReopenStatus.values)}.", field="status")
        paginator = ZentraCursorPagination()
        page = paginator.paginate_queryset(selectors.reopen_list(status=params.get("status")), request, view=self)
        return paginator.get_paginated_response([reopen_body(r) for r in page])


class TrialBalanceApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(
        parameters=[OpenApiParameter("currency", str), OpenApiParameter("after", str, description="account code"),
                    OpenApiParameter("limit", int, description=f"1-{TB_MAX_PAGE}, default 200")],
        responses=s.TrialBalanceOut,
        summary="Trial balance of a period: opening, debits, credits, closing per account; totals per currency",
    )
    def get(self, request, period_ref: str):
        params = query_params_clean(request, {"currency", "after"})
        try:
            limit = int(params.get("limit") or 200)
        except ValueError:
            raise core_errors.ValidationFailed("limit is an integer.", field="limit") from None
        if not 1 <= limit <= TB_MAX_PAGE:
            raise core_errors.ValidationFailed(f"limit is 1-{TB_MAX_PAGE}.", field="limit")
        tb = selectors.trial_balance(period_ref)
        period, _, _, _ = selectors.period_lookup(period_ref)
        rows = tb.rows
        if params.get("currency"):
            rows = [r for r in rows if r[2] == params["currency"].upper()]
        if params.get("after"):
            rows = [r for r in rows if r[1] > params["after"]]
        page = rows[:limit]
        return Response({
            "object": "trial_balance", "period": _period_out(period, tb.name, tb.start_at, tb.end_at),
            "source": tb.source, "basis": tb.basis, "snapshot_id": tb.snapshot_id, "totals": tb.totals,
            "ties_out": tb.ties_out, "account_count": len(tb.rows),
            "next_after": page[-1][1] if len(rows) > limit else None,
            "results": [selectors.tb_row_body(r) for r in page],
        })


class CloseoutSettingsApi(APIView):
    required_scopes = {"GET": "ledger:read", "PUT": "admin"}

    def _body(self, st):
        return settings_body(st) | {"closed_through": iso(closed_through())}

    @extend_schema(responses=s.SettingsOut, summary="Period length and what a closed period does with back-dated entries")
    def get(self, request):
        return Response(self._body(settings_get()))

    @extend_schema(request=s.SettingsIn, responses=s.SettingsOut, summary="Change the closeout settings")
    def put(self, request):
        data = s.SettingsIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(self._body(svc.settings_update(actor=Actor.from_request(request), **data.validated_data)))


class _LinePagination(ZentraCursorPagination):
    ordering = "id"  # oldest first: the story of the balance in order


class BalanceChangeApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(
        parameters=[OpenApiParameter("from", str, required=True, description="ISO 8601 instant"),
                    OpenApiParameter("to", str, required=True, description="ISO 8601 instant")],
        responses=s.BalanceChangeOut, operation_id="accounts_balance_changes_list",
        summary="Why did this balance change: balances by effective date at both instants and every line dated between them",
    )
    def get(self, request, account_ref: str):
        params = query_params_clean(request, {"from", "to"})
        start, end = datetime_param(params, "from"), datetime_param(params, "to")
        if start is None or end is None:
            raise core_errors.ValidationFailed("from and to are both required.", field="from" if start is None else "to")
        if start > end:
            raise core_errors.InvalidRange("'from' is after 'to'.", fields=["from", "to"])
        acc = ledger_selectors.account_get(account_ref)
        change = selectors.balance_change(account=acc, start=start, end=end)
        paginator = _LinePagination()
        page = paginator.paginate_queryset(change["lines"], request, view=self)
        paged = paginator.get_paginated_response([selectors.balance_change_line(ln, acc) for ln in page]).data

        def at(b, when):
            return {"at": iso(when), "posted": b["posted"], "pending": b["pending"], "available": b["available"],
                    "last_line_id": b["last_line_id"]}

        return Response({
            "object": "balance_change", "account": acc.code, "account_id": acc.id, "currency": acc.currency,
            "start": iso(start), "end": iso(end), "opening": at(change["opening"], start),
            "closing": at(change["closing"], end),
            "change_minor": change["closing"]["posted"] - change["opening"]["posted"],
            "next": paged["next"], "previous": paged["previous"], "results": paged["results"],
        })
