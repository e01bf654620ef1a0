"""/v1/ routes of the closeout app (included by zentra_site/urls.py)."""
from django.urls import path

from . import views as v

urlpatterns = [
    path("periods", v.PeriodListCreateApi.as_view(), name="periods"),
    path("periods/<str:period_ref>", v.PeriodDetailApi.as_view(), name="period"),
    path("periods/<str:period_ref>/closing", v.PeriodClosingApi.as_view(), name="period-closing"),
    path("periods/<str:period_ref>/close", v.PeriodCloseApi.as_view(), name="period-close"),
    path("periods/<str:period_ref>/reopen", v.PeriodReopenApi.as_view(), name="period-reopen"),
    path("periods/<str:period_ref>/trial-balance", v.TrialBalanceApi.as_view(), name="period-trial-balance"),
    path("period-reopen-requests", v.ReopenRequestListApi.as_view(), name="period-reopen-requests"),
    path("closeout/settings", v.CloseoutSettingsApi.as_view(), name="closeout-settings"),
    path("accounts/<str:account_ref>/balance-changes", v.BalanceChangeApi.as_view(), name="account-balance-changes"),
]
