"""Reads for the webhooks API, console and admin. Every query runs in the
current tenant's schema, so another tenant's ids simply are not found."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from core import errors
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.models import Event


def event_list(
    *, types: list[str] | None = None, created_after: datetime | None = None, created_before: datetime | None = None,
) -> QuerySet[Event]:
    qs = Event.objects.all()
    if types:
        cond = Q()
        for t in types:
            if t == "*":
                return event_list(created_after=created_after, created_before=created_before)
            cond |= Q(type__startswith=t[:-1]) if t.endswith(".*") else Q(type=t)
        qs = qs.filter(cond)
    if created_after is not None:
        qs = qs.filter(created_at__gte=created_after)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    return qs


def event_get(*, public_id: str) -> Event:
    event = Event.objects.filter(public_id=public_id).first()
    if event is None:
        raise errors.NotFound("No such event.")
    return event


def endpoint_list(*, enabled: bool | None = None) -> QuerySet[WebhookEndpoint]:
    qs = WebhookEndpoint.objects.all()
    if enabled is not None:
        qs = qs.filter(enabled=enabled)
    return qs


def endpoint_get(*, public_id: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(public_id=public_id).first()
    if endpoint is None:
        raise errors.NotFound("No such webhook endpoint.")
    return endpoint


def delivery_list(*, endpoint: WebhookEndpoint | None = None, status: str | None = None, event: Event | None = None) -> QuerySet[Delivery]:
    qs = Delivery.objects.select_related("event", "endpoint")
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    if event is not None:
        qs = qs.filter(event=event)
    if status:
        qs = qs.filter(status=status)
    return qs


def delivery_get(*, public_id: str) -> Delivery:
    delivery = Delivery.objects.select_related("event", "endpoint").filter(public_id=public_id).first()
    if delivery is None:
        raise errors.NotFound("No such webhook delivery.")
    return delivery


def attempt_list(*, delivery: Delivery) -> QuerySet[DeliveryAttempt]:
    return DeliveryAttempt.objects.filter(delivery=delivery)


# --- operator views (console, admin) -------------------------------------------
# A delivery is failing while its last attempt failed and nothing has
# succeeded since: dead-lettered, or pending a retry after a failed attempt
# (a replayed delivery whose last attempt succeeded has no last_error).
FAILING = Q(status=Delivery.Status.FAILED) | (
    Q(status=Delivery.Status.PENDING, attempt_count__gt=0) & ~Q(last_error="")
)
DELIVERY_STATUS_FILTERS = ("failing", *Delivery.Status.values)


def delivery_search(
    *, status: str = "", event_type: str = "", endpoint: WebhookEndpoint | None = None,
    since: datetime | None = None,
) -> QuerySet[Delivery]:
    """Deliveries for the operator's list: `status` is a stored status or
    `failing`; `event_type` an exact type or a family (`ledger.*`)."""
    qs = Delivery.objects.select_related("event", "endpoint")
    if status == "failing":
        qs = qs.filter(FAILING)
    elif status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event__type__startswith=event_type[:-1]) if event_type.endswith(".*") else qs.filter(
            event__type=event_type)
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    if since is not None:
        qs = qs.filter(failed_at__gte=since)
    return qs


def capped_count(qs: QuerySet, cap: int) -> int:
    """COUNT(*) over at most `cap` rows: a tile or a confirm step needs "how
    many, or more than this", never a scan of a large table."""
    return qs[:cap].count()


def failing_summary(*, cap: int = 1000) -> dict[str, int]:
    return {
        "deliveries": capped_count(Delivery.objects.filter(FAILING), cap),
        "endpoints": WebhookEndpoint.objects.filter(enabled=True, failing_since__isnull=False).count(),
        "disabled": WebhookEndpoint.objects.filter(enabled=False).count(),
        "cap": cap,
    }


def resendable_failed(
    *, since: datetime, event_type: str = "", endpoint: WebhookEndpoint | None = None,
) -> QuerySet[Delivery]:
    """Dead-lettered deliveries (failed at or after `since`) whose endpoint is
    enabled: what "resend all failed since T" sends, oldest first."""
    return delivery_search(status=Delivery.Status.FAILED, event_type=event_type, endpoint=endpoint, since=since).filter(
        endpoint__enabled=True).order_by("id")


@dataclass(frozen=True)
class EndpointHealth:
    failing_since: datetime | None
    last_success: datetime | None
    last_failure: datetime | None
    failing_deliveries: int

    @property
    def failing_now(self) -> bool:
        return self.failing_since is not None


def endpoint_health(endpoint: WebhookEndpoint, *, cap: int = 1000) -> EndpointHealth:
    """failing_since is kept by the dispatcher (first failure of the current
    run, cleared by any success). Last success and failure are read from the
    newest deliveries through the (endpoint, status, -id) index."""
    ds = Delivery.objects.filter(endpoint=endpoint)
    last_success = ds.filter(status=Delivery.Status.SUCCEEDED).order_by("-id").values_list(
        "succeeded_at", flat=True).first()
    failures = [
        ds.filter(status=status).exclude(last_error="").order_by("-id").values_list(
            Coalesce("last_attempt_at", "failed_at"), flat=True).first()
        for status in (Delivery.Status.PENDING, Delivery.Status.FAILED)
    ]
    failures = [f for f in failures if f is not None]
    return EndpointHealth(
        failing_since=endpoint.failing_since, last_success=last_success,
        last_failure=max(failures) if failures else None,
        failing_deliveries=capped_count(ds.filter(FAILING), cap),
    )


def latest_attempts(deliveries: list[Delivery]) -> dict[int, DeliveryAttempt]:
    """The newest attempt of each delivery, one query."""
    if not deliveries:
        return {}
    rows = (DeliveryAttempt.objects.filter(delivery_id__in=[d.pk for d in deliveries])
            .order_by("delivery_id", "-number").distinct("delivery_id"))
    return {a.delivery_id: a for a in rows}
