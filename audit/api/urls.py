"""/v1/ routes of the audit app (included by zentra_site/urls.py)."""
from django.urls import path

from . import views

urlpatterns: list = [
    path("audit-events", views.AuditEventListApi.as_view(), name="audit-events"),
    path("audit/verify", views.ChainVerifyApi.as_view(), name="audit-verify"),
    path("exports", views.ExportCreateApi.as_view(), name="exports"),
    path("exports/<int:export_id>", views.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:export_id>/file", views.ExportFileApi.as_view(), name="export-file"),
    path("exports/<int:export_id>/manifest", views.ExportManifestApi.as_view(), name="export-manifest"),
]
