from django.contrib import admin, messages

from core.actors import actor_for
from core.admin import ReadOnlyInline, TenantReadOnlyAdmin
from webhooks import errors
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.replays import delivery_replay
from webhooks.services.endpoints import endpoint_disable

# Display name only, set here so the model needs no migration for a label.
Delivery._meta.verbose_name_plural = "deliveries"


def may_manage_webhooks(request) -> bool:
    """Support staff whose console role includes the webhooks capability: a
    staff viewer may look, not act."""
    user = request.user
    return bool(user.is_active and user.is_staff and hasattr(user, "can") and user.can("webhooks"))


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantReadOnlyAdmin):
    list_display = ("public_id", "url", "enabled", "disabled_reason", "failing_since", "created_at")
    list_filter = ("enabled", "disabled_reason")
    search_fields = ("public_id", "url", "description")
    ordering = ("-id",)
    # Secrets (encrypted or not) never reach a page.
    exclude = ("secret_encrypted", "previous_secret_encrypted")
    actions = ["disable_endpoints"]

    def has_disable_permission(self, request):
        return self.has_view_permission(request) and may_manage_webhooks(request)

    @admin.action(description="Disable selected endpoints (audited; announces webhook.endpoint.disabled)",
                  permissions=["disable"])
    def disable_endpoints(self, request, queryset):
        actor = actor_for(request)
        done = 0
        for endpoint in queryset.filter(enabled=True):
            endpoint_disable(endpoint=endpoint, actor=actor, detail="support admin action")
            done += 1
        self.message_user(request, f"Disabled {done} endpoint(s); each is in the audit log.", messages.SUCCESS)


class AttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ("number", "trigger", "outcome", "status_code", "duration_ms", "error", "response_excerpt", "started_at")
    readonly_fields = fields
    ordering = ("number",)


@admin.register(Delivery)
class DeliveryAdmin(TenantReadOnlyAdmin):
    list_display = ("public_id", "event", "endpoint", "status", "attempt_count", "last_status_code", "last_attempt_at",
                    "next_attempt_at")
    list_filter = ("status",)
    search_fields = ("public_id", "event__public_id", "endpoint__public_id", "event__type")
    list_select_related = ("event", "endpoint")
    raw_id_fields = ("event", "endpoint")
    inlines = [AttemptInline]
    ordering = ("-id",)
    actions = ["replay_deliveries"]

    def has_replay_permission(self, request):
        return self.has_view_permission(request) and may_manage_webhooks(request)

    @admin.action(description="Replay selected deliveries now (same webhook-id; audited)", permissions=["replay"])
    def replay_deliveries(self, request, queryset):
        actor = actor_for(request)
        done, refused = 0, []
        for delivery in queryset.select_related("endpoint"):
            try:
                delivery_replay(delivery=delivery, actor=actor)
                done += 1
            except (errors.WebhookEndpointDisabled, errors.WebhookDeliveryInFlight) as exc:
                refused.append(f"{delivery.public_id}: {exc.code}")
        self.message_user(request, f"Replaying {done} deliver{'y' if done == 1 else 'ies'}; each is in the audit log.",
                          messages.SUCCESS)
        if refused:
            self.message_user(request, "Not replayed: " + ", ".join(refused), messages.WARNING)
