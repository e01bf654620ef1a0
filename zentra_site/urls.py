from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from .health import healthz
from core.problems import api_not_found

# Console paths get console pages, API paths problem+json (console/views/errors.py).
handler403 = "console.views.errors.permission_denied"
handler404 = "console.views.errors.page_not_found"
handler500 = "core.problems.handler500"

v1 = [
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularRedocView.as_view(url_name="schema"), name="docs"),
    path("", include("tenants.api.urls")),
]
v1 += [
    path("", include("ledger.api.urls")),
    path("", include("webhooks.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("reconciliation.api.urls")),
    path("", include("providers.api.urls")),
    path("", include("closeout.api.urls")),
]
# The catch-all stays last so unknown API paths answer problem+json, never HTML.
# [\s\S], not ".": a path with an encoded newline (%0A) must not slip past it
# to Django's HTML 404.
V1_CATCH_ALL = re_path(r"^[\s\S]*$", api_not_found)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("v1/", include(v1 + [V1_CATCH_ALL])),
    path("console/", include("console.urls")),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/console/", permanent=False)),
]
