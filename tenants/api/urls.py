"""/v1/ routes of the tenants app (included by zentra_site/urls.py)."""
from django.urls import path

from . import views as v

urlpatterns = [
    path("tenant", v.TenantCurrentApi.as_view(), name="tenant-current"),
    path("api-keys", v.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>/revoke", v.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
]
