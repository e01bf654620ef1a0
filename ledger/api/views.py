"""Ledger API: parse, authorize, call a service or selector, render."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from ledger import selectors
from core import errors
from ledger.models import AccountStatus, HoldStatus
from ledger.presenters import account_body, entry_body, hold_body
from ledger.services import accounts as account_services
from ledger.services import policies as policy_services
from ledger.services.batch import BatchItem, entry_post_batch
from ledger.services.boundary import KEY_PATTERN, BoundaryOutcome, idempotency_key_clean, request_hash
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post
from ledger.services.holds import hold_capture, hold_create, hold_release
from ledger.services.reversals import entry_reverse
from core.api import ZentraCursorPagination, cursor_page_schema, query_params_clean, range_params
from core.problems import PROBLEM_CONTENT_TYPE, _flatten

from . import serializers as s
from core.api import datetime_param

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
    OpenApiParameter.HEADER, required=False,
    description="1-255 printable ASCII, no leading or trailing whitespace; or send `idempotency_key` in the body. "
                "Required for money-writing POSTs.",
)


def boundary_response(outcome: BoundaryOutcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    resp = Response(outcome.body, status=outcome.status, headers=headers)
    if outcome.is_problem:
        resp.content_type = PROBLEM_CONTENT_TYPE
    return resp


# What every money POST shares: validate the body with `post_input`, take the
# idempotency key (header or body), resolve the subject the URL names (an
# entry to reverse, a hold to capture), hash the request as `operation` over
# the subject and the body, call the service (`execute`) and answer its
# outcome, a replay with `Idempotent-Replayed: true`. Each subclass states its
# schema with extend_schema_view. (A comment, not a docstring: the schema would
# take a docstring as every subclass's description.)
class BoundaryPost:

    required_scopes = {"POST": "ledger:write"}
    post_input: type
    operation: str

    def subject(self, **url) -> tuple[Any, dict[str, Any]]:
        """(the object the URL names, what of it the request hash covers)."""
        return None, {}

    def execute(self, request, *, v: dict, key: str | None, req_hash: str, subject: Any) -> BoundaryOutcome:
        raise NotImplementedError

    def post(self, request, **url):
        raw = request.data
        data = self.post_input(data=raw)
        data.is_valid(raise_exception=True)
        key = idempotency_key_clean(header=request.headers.get("Idempotency-Key"), body_value=raw.get("idempotency_key"))
        obj, hashed = self.subject(**url)
        outcome = self.execute(request, v=data.validated_data, key=key, subject=obj,
                               req_hash=request_hash(operation=self.operation, payload={**hashed, **raw}))
        return boundary_response(outcome)


def entry_lines_from(v: dict) -> list[LineSpec]:
    """Validated EntryIn data -> lines (the shorthand is two lines)."""
    if "lines" in v:
        return [LineSpec(account=ln["account"], side=ln["side"], amount_minor=ln["amount_minor"],
                         currency=ln["currency"]) for ln in v["lines"]]
    return [
        LineSpec(account=v["debit"], side="debit", amount_minor=v["amount_minor"], currency=v["currency"]),
        LineSpec(account=v["credit"], side="credit", amount_minor=v["amount_minor"], currency=v["currency"]),
    ]


def paginate(request, view, queryset, render):
    paginator = ZentraCursorPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([render(obj) for obj in page])


@extend_schema_view(post=extend_schema(
    request=s.EntryIn, parameters=[IDEMPOTENCY_HEADER],
    responses={201: s.EntryOut}, summary="Post a balanced ledger entry (the posting boundary)",
))
class LedgerEntryListCreateApi(BoundaryPost, APIView):
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

    post_input, operation = s.EntryIn, "ledger_entry.create"

    def execute(self, request, *, v, key, req_hash, subject):
        return entry_post(
            actor=Actor.from_request(request), tenant=request.auth.tenant.slug, idempotency_key=key,
            req_hash=req_hash, lines=entry_lines_from(v),
            external_reference=v.get("external_reference", ""), source_event=v.get("source_event", ""),
            description=v.get("description", ""), effective_at=v.get("effective_at"), metadata=v.get("metadata"),
        )


class LedgerEntryDetailApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.EntryDetailOut, summary="Get a ledger entry by id or posting id, with its reversals")
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


@extend_schema_view(post=extend_schema(
    request=s.ReverseIn, parameters=[IDEMPOTENCY_HEADER], responses={201: s.ReversalOut},
    summary="Reverse an entry, fully or partly (posts the mirror entry, linked both ways)"))
class LedgerEntryReverseApi(BoundaryPost, APIView):
    post_input, operation = s.ReverseIn, "ledger_entry.reverse"

    def subject(self, *, entry_ref: str):
        original = selectors.entry_get(entry_ref)
        return original, {"entry": original.id}

    def execute(self, request, *, v, key, req_hash, subject):
        return entry_reverse(
            actor=Actor.from_request(request), tenant=request.auth.tenant.slug, entry_id=subject.id,
            idempotency_key=key, req_hash=req_hash,
            amount_minor=v.get("amount_minor"), external_reference=v.get("external_reference", ""),
            description=v.get("description", ""), metadata=v.get("metadata"),
        )


def _batch_item(raw) -> BatchItem | errors.ZentraError:
    """One entry of a batch, parsed like a single POST body; an error is
    returned, not raised, so per_item mode can answer it for that item."""
    if not isinstance(raw, dict):
        return errors.ValidationFailed("Each entry of a batch is a JSON object.")
    try:
        data = s.EntryIn(data=raw)
        if not data.is_valid():
            return errors.ValidationFailed("The entry is not valid.", errors=_flatten(data.errors))
        v = data.validated_data
        key = idempotency_key_clean(header=None, body_value=raw.get("idempotency_key"))
    except errors.ZentraError as exc:
        return exc
    return BatchItem(
        idempotency_key=key, req_hash=request_hash(operation="ledger_entry.create", payload=raw),
        lines=entry_lines_from(v), external_reference=v.get("external_reference", ""),
        source_event=v.get("source_event", ""), description=v.get("description", ""),
        effective_at=v.get("effective_at"), metadata=v.get("metadata"),
    )


class LedgerEntryBatchApi(APIView):
    required_scopes = {"POST": "ledger:write"}

    @extend_schema(request=s.BatchIn, responses={201: s.BatchOut, 200: s.BatchOut},
                   summary="Post up to 1000 entries: atomically (201) or each on its own (200, a status per item)")
    def post(self, request):
        data = s.BatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        out = entry_post_batch(actor=Actor.from_request(request), tenant=request.auth.tenant.slug, mode=v["mode"],
                               items=[_batch_item(raw) for raw in v["entries"]])
        body = {
            "object": "ledger_entry_batch", "batch_id": out.batch_id, "mode": out.mode, "count": len(out.results),
            "posted": out.posted, "replayed": out.replayed, "failed": out.failed,
            "results": [{"index": r.index, "idempotency_key": r.idempotency_key, "status": r.status,
                         "replayed": r.replayed, "body": r.body} for r in out.results],
        }
        return Response(body, status=201 if out.mode == "atomic" else 200)


@extend_schema_view(post=extend_schema(
    request=s.HoldCreateIn, parameters=[IDEMPOTENCY_HEADER], responses={201: s.HoldOut},
    summary="Reserve funds on an account (pending up, available down)"))
class HoldListCreateApi(BoundaryPost, APIView):
    required_scopes = {"GET": "ledger:read", "POST": "ledger:write"}
    post_input, operation = s.HoldCreateIn, "hold.create"
    FILTERS = {"account", "status", "external_reference"}

    @extend_schema(parameters=[OpenApiParameter(f, str) for f in sorted(FILTERS)], responses=cursor_page_schema(s.HoldOut, name="HoldPage"), operation_id="holds_list",
                   summary="List holds")
    def get(self, request):
        params = query_params_clean(request, self.FILTERS)
        if params.get("status") and params["status"] not in HoldStatus.values:
            raise errors.ValidationFailed(f"status is one of {', '.join(HoldStatus.values)}.", field="status")
        account = selectors.account_get(params["account"]) if params.get("account") else None
        qs = selectors.hold_list(account=account, status=params.get("status"),
                                 external_reference=params.get("external_reference"))
        tenant = request.auth.tenant.slug
        return paginate(request, self, qs, lambda h: hold_body(h, account=h.account, destination=h.destination,
                                                               tenant=tenant))

    def execute(self, request, *, v, key, req_hash, subject):
        return hold_create(
            actor=Actor.from_request(request), tenant=request.auth.tenant.slug, idempotency_key=key,
            req_hash=req_hash, account=v["account"],
            amount_minor=v["amount_minor"], currency=v["currency"], destination=v.get("destination"),
            expires_at=v.get("expires_at"), external_reference=v.get("external_reference", ""),
            description=v.get("description", ""), metadata=v.get("metadata"),
        )


class HoldDetailApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.HoldOut, summary="Get a hold (by id or hold_id) with its movements")
    def get(self, request, hold_ref: str):
        return Response(selectors.hold_present(selectors.hold_get(hold_ref), tenant=request.auth.tenant.slug))


class _HoldPost(BoundaryPost):
    def subject(self, *, hold_ref: str):
        hold = selectors.hold_get(hold_ref)
        return hold, {"hold": hold.id}


@extend_schema_view(post=extend_schema(
    request=s.HoldCaptureIn, parameters=[IDEMPOTENCY_HEADER], responses={201: s.HoldCaptureOut},
    summary="Capture a hold, fully or partly (posts a hold_capture entry)"))
class HoldCaptureApi(_HoldPost, APIView):
    post_input, operation = s.HoldCaptureIn, "hold.capture"

    def execute(self, request, *, v, key, req_hash, subject):
        return hold_capture(
            actor=Actor.from_request(request), tenant=request.auth.tenant.slug, hold_id=subject.id,
            idempotency_key=key, req_hash=req_hash,
            amount_minor=v.get("amount_minor"), destination=v.get("destination"),
            release_remainder=v["release_remainder"], external_reference=v.get("external_reference", ""),
            description=v.get("description", ""), metadata=v.get("metadata"),
        )


@extend_schema_view(post=extend_schema(
    request=s.HoldReleaseIn, parameters=[IDEMPOTENCY_HEADER], responses={200: s.HoldOut},
    summary="Release (void) what a hold still reserves"))
class HoldReleaseApi(_HoldPost, APIView):
    post_input, operation = s.HoldReleaseIn, "hold.release"

    def execute(self, request, *, v, key, req_hash, subject):
        return hold_release(
            actor=Actor.from_request(request), tenant=request.auth.tenant.slug, hold_id=subject.id,
            idempotency_key=key, req_hash=req_hash, reason=v["reason"],
        )
