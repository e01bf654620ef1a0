"""/v1/ routes of the providers app (included by zentra_site/urls.py)."""
from django.urls import path

from providers.api import views as v

urlpatterns = [
    path("inbound/<str:provider>", v.InboundReceiveApi.as_view(), name="inbound-receive"),
    path("providers", v.ProviderListCreateApi.as_view(), name="providers"),
    path("providers/<str:provider_id>", v.ProviderDetailApi.as_view(), name="provider"),
    path("providers/<str:provider_id>/rotate-secret", v.ProviderRotateSecretApi.as_view(),
         name="provider-rotate-secret"),
    path("inbound-deliveries", v.InboundDeliveryListApi.as_view(), name="inbound-deliveries"),
    path("inbound-deliveries/<str:delivery_id>", v.InboundDeliveryDetailApi.as_view(), name="inbound-delivery"),
    path("inbound-deliveries/<str:delivery_id>/replay", v.InboundDeliveryReplayApi.as_view(),
         name="inbound-delivery-replay"),
]
