"""/v1/ routes of the reconciliation app (included by zentra_site/urls.py)."""
from django.urls import path

from . import views as v

urlpatterns = [
    path("reconciliations", v.ReconciliationListCreateApi.as_view(), name="reconciliations"),
    path("reconciliations/<str:run_id>", v.ReconciliationDetailApi.as_view(), name="reconciliation"),
    path("reconciliations/<str:run_id>/items", v.ReconciliationItemListApi.as_view(), name="reconciliation-items"),
    path("reconciliations/<str:run_id>/items/<int:item_id>/resolve", v.ReconciliationItemResolveApi.as_view(),
         name="reconciliation-item-resolve"),
    path("reconciliations/<str:run_id>/rerun", v.ReconciliationRerunApi.as_view(), name="reconciliation-rerun"),
]
