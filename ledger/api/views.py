"""Ledger API: parse, authorize, call a service or selector, render."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from ledger import selectors
from ledger.models import AccountStatus
from ledger.presenters import account_body, entry_body
from ledger.services import accounts as account_services
from ledger.services import policies as policy_services
from ledger.services.boundary import BoundaryOutcome, idempotency_key_clean, request_hash
from ledger.services.entries import LineSpec, entry_post
from zentra_site.api import ZentraCursorPagination, cursor_page_schema, query_params_clean, range_params
from zentra_site.problems import PROBLEM_CONTENT_TYPE

from . import serializers as s

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="1-255 printable ASCII; or send `idempotency_key` in the body. Required for money-writing POSTs.",
)


def boundary_response(outcome: BoundaryOutcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    resp = Response(outcome.body, status=outcome.status, headers=headers)
    if outcome.is_problem:
        resp.content_type = PROBLEM_CONTENT_TYPE
    return resp


def paginate(request, view, queryset, render):
    paginator = ZentraCursorPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([render(obj) for obj in page])


class LedgerEntryListCreateApi(APIView):
    required_scopes = {"GET": "ledger:read", "POST": "ledger:write"}
    FILTERS = {"account", "created_after", "created_before", "effective_after", "effective_before",
               "external_reference", "idempotency_key"}

    @extend_schema(
        parameters=[OpenApiParameter(f, str) for f in sorted(FILTERS)],
        responses=cursor_page_schema(s.EntryOut, name="EntryPage"), operation_id="ledger_entries_list", summary="List ledger entries",
    )
    def get(self, request):
        params = query_params_clean(request, self.FILTERS)
        created = range_params(params, "created_after", "created_before")
        effective = range_params(params, "effective_after", "effective_before")
        account = selectors.account_get(params["account"]) if params.get("account") else None
        qs = selectors.entry_list(
            account=account, created_after=created[0], created_before=created[1],
            effective_after=effective[0], effective_before=effective[1],
            external_reference=params.get("external_reference"), idempotency_key=params.get("idempotency_key"),
        ).prefetch_related("lines__account")
        tenant = request.auth.tenant.slug
        return paginate(request, self, qs, lambda e: entry_body(
            e, [(ln, ln.account) for ln in e.lines.all()], tenant=tenant))

    @extend_schema(
        request=s.EntryIn, parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.EntryOut}, summary="Post a balanced ledger entry (the posting boundary)",
    )
    def post(self, request):
        raw = request.data
        data = s.EntryIn(data=raw)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        key = idempotency_key_clean(header=request.headers.get("Idempotency-Key"), body_value=raw.get("idempotency_key"))
        if "lines" in v:
            lines = [LineSpec(account=ln["account"], side=ln["side"], amount_minor=ln["amount_minor"],
                              currency=ln["currency"]) for ln in v["lines"]]
        else:
            lines = [
                LineSpec(account=v["debit"], side="debit", amount_minor=v["amount_minor"], currency=v["currency"]),
                LineSpec(account=v["credit"], side="credit", amount_minor=v["amount_minor"], currency=v["currency"]),
            ]
        outcome = entry_post(
            actor=Actor.from_request(request), tenant=request.auth.tenant.slug, idempotency_key=key,
            req_hash=request_hash(operation="ledger_entry.create", payload=raw), lines=lines,
            external_reference=v.get("external_reference", ""), source_event=v.get("source_event", ""),
            description=v.get("description", ""), effective_at=v.get("effective_at"), metadata=v.get("metadata"),
        )
        return boundary_response(outcome)


class LedgerEntryDetailApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.EntryOut, summary="Get a ledger entry by id or posting id")
    def get(self, request, entry_ref: str):
        entry = selectors.entry_get(entry_ref)
        return Response(selectors.entry_present(entry, tenant=request.auth.tenant.slug))


class AccountListCreateApi(APIView):
    required_scopes = {"GET": "ledger:read", "POST": "ledger:write"}
    FILTERS = {"code", "currency", "status"}

    @extend_schema(parameters=[OpenApiParameter(f, str) for f in sorted(FILTERS)],
                   responses=cursor_page_schema(s.AccountOut, name="AccountPage"), operation_id="accounts_list", summary="List accounts")
    def get(self, request):
        params = query_params_clean(request, self.FILTERS)
        if params.get("status") and params["status"] not in AccountStatus.values:
            from ledger import errors
            raise errors.ValidationFailed("status is open, frozen or closed.", field="status")
        qs = selectors.account_list(code=params.get("code"), currency=params.get("currency"), status=params.get("status"))
        return paginate(request, self, qs.prefetch_related("policy_links"),
                        lambda a: account_body(a, policies=[p.policy_name for p in a.policy_links.all()]))

    @extend_schema(request=s.AccountIn, responses={201: s.AccountOut}, summary="Create an account")
    def post(self, request):
        data = s.AccountIn(data=request.data)
        data.is_valid(raise_exception=True)
        acc = account_services.account_create(actor=Actor.from_request(request), **data.validated_data)
        return Response(account_body(acc, policies=selectors.account_policy_names(acc)), status=201)


class AccountDetailApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.AccountOut, summary="Get an account with its balances (by id or code)")
    def get(self, request, account_ref: str):
        acc = selectors.account_get(account_ref)
        return Response(account_body(acc, policies=selectors.account_policy_names(acc)))


class _AccountStatusApi(APIView):
    required_scopes = {"POST": "ledger:write"}
    service = None

    @extend_schema(request=None, responses=s.AccountOut)
    def post(self, request, account_ref: str):
        acc = type(self).service(actor=Actor.from_request(request), account=selectors.account_get(account_ref))
        return Response(account_body(acc, policies=selectors.account_policy_names(acc)))


class AccountCloseApi(_AccountStatusApi):
    service = staticmethod(account_services.account_close)


class AccountFreezeApi(_AccountStatusApi):
    service = staticmethod(account_services.account_freeze)


class AccountUnfreezeApi(_AccountStatusApi):
    service = staticmethod(account_services.account_unfreeze)


class AccountPoliciesApi(APIView):
    required_scopes = {"PUT": "admin"}

    @extend_schema(request=s.AccountPoliciesIn, responses=s.AccountOut, summary="Set the policies attached to an account")
    def put(self, request, account_ref: str):
        data = s.AccountPoliciesIn(data=request.data)
        data.is_valid(raise_exception=True)
        acc = selectors.account_get(account_ref)
        names = account_services.account_policies_set(
            actor=Actor.from_request(request), account=acc, policies=data.validated_data["policies"])
        return Response(account_body(acc, policies=names))


class AccountStatementApi(APIView):
    required_scopes = {"GET": "ledger:read"}
    FILTERS = {"posted_after", "posted_before"}

    @extend_schema(parameters=[OpenApiParameter(f, str) for f in sorted(FILTERS)],
                   responses=cursor_page_schema(s.StatementLineOut, name="StatementPage"), operation_id="accounts_statement_list", summary="Account statement with running balance")
    def get(self, request, account_ref: str):
        params = query_params_clean(request, self.FILTERS)
        lo, hi = range_params(params, "posted_after", "posted_before")
        acc = selectors.account_get(account_ref)
        qs = selectors.statement_lines(account=acc, posted_after=lo, posted_before=hi)

        def render(ln):
            return {
                "line_id": ln.id, "entry_id": ln.entry_id, "posting_id": ln.entry.posting_id, "side": ln.side,
                "amount_minor": ln.amount_minor,
                "signed_amount_minor": ln.amount_minor if ln.side == acc.normal_side else -ln.amount_minor,
                "currency": ln.currency, "balance_after": ln.balance_after, "posted_at": ln.posted_at,
                "effective_at": ln.entry.effective_at, "external_reference": ln.entry.external_reference,
                "description": ln.entry.description,
            }

        return paginate(request, self, qs, lambda ln: s.StatementLineOut(render(ln)).data)


class AccountBalanceApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(parameters=[OpenApiParameter("as_of", str, description="ISO 8601; omit for now")],
                   responses=s.BalanceAsOfOut, summary="Balance now or as of a timestamp (from stored running balances)")
    def get(self, request, account_ref: str):
        from zentra_site.api import datetime_param

        params = query_params_clean(request, {"as_of"})
        acc = selectors.account_get(account_ref)
        return Response(s.BalanceAsOfOut(selectors.balance_as_of(account=acc, at=datetime_param(params, "as_of"))).data)


class PolicyListCreateApi(APIView):
    required_scopes = {"GET": "ledger:read", "POST": "admin"}

    @extend_schema(parameters=[OpenApiParameter("name", str)], responses=cursor_page_schema(s.PolicyOut, name="PolicyList", cursor=False), operation_id="policies_list",
                   summary="List policies (every version, newest first per name)")
    def get(self, request):
        params = query_params_clean(request, {"name"})
        return Response({"results": s.PolicyOut(selectors.policy_list(name=params.get("name")), many=True).data})

    @extend_schema(request=s.PolicyIn, responses={201: s.PolicyOut}, summary="Create a policy (version 1)")
    def post(self, request):
        data = s.PolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        policy = policy_services.policy_create(actor=Actor.from_request(request), **data.validated_data)
        return Response(s.PolicyOut(policy).data, status=201)


class PolicyReviseApi(APIView):
    required_scopes = {"POST": "admin"}

    @extend_schema(request=s.PolicyReviseIn, responses={201: s.PolicyOut}, summary="Edit a policy (adds a version)")
    def post(self, request, name: str):
        data = s.PolicyReviseIn(data=request.data)
        data.is_valid(raise_exception=True)
        policy = policy_services.policy_revise(actor=Actor.from_request(request), name=name, **data.validated_data)
        return Response(s.PolicyOut(policy).data, status=201)
