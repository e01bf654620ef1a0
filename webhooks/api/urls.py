"""/v1/ routes of the webhooks app (included by zentra_site/urls.py)."""
from django.urls import path

from webhooks.api import views as v

urlpatterns = [
    path("events", v.EventListApi.as_view(), name="events"),
    path("events/<str:event_id>", v.EventDetailApi.as_view(), name="event"),
    path("webhook-event-types", v.EventTypeListApi.as_view(), name="webhook-event-types"),
    path("webhook-endpoints", v.EndpointListCreateApi.as_view(), name="webhook-endpoints"),
    path("webhook-endpoints/<str:endpoint_id>", v.EndpointDetailApi.as_view(), name="webhook-endpoint"),
    path("webhook-endpoints/<str:endpoint_id>/rotate-secret", v.EndpointRotateSecretApi.as_view(),
         name="webhook-endpoint-rotate-secret"),
    path("webhook-endpoints/<str:endpoint_id>/disable", v.EndpointDisableApi.as_view(), name="webhook-endpoint-disable"),
    path("webhook-endpoints/<str:endpoint_id>/enable", v.EndpointEnableApi.as_view(), name="webhook-endpoint-enable"),
    path("webhook-endpoints/<str:endpoint_id>/recover", v.EndpointRecoverApi.as_view(), name="webhook-endpoint-recover"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries", v.EndpointDeliveryListApi.as_view(),
         name="webhook-endpoint-deliveries"),
    path("webhook-deliveries/<str:delivery_id>", v.DeliveryDetailApi.as_view(), name="webhook-delivery"),
    path("webhook-deliveries/<str:delivery_id>/attempts", v.DeliveryAttemptListApi.as_view(),
         name="webhook-delivery-attempts"),
    path("webhook-deliveries/<str:delivery_id>/replay", v.DeliveryReplayApi.as_view(), name="webhook-delivery-replay"),
]
