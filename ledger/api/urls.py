"""/v1/ routes of the ledger app (included by zentra_site/urls.py)."""
from django.urls import path

from . import views as v

urlpatterns = [
    path("ledger-entries", v.LedgerEntryListCreateApi.as_view(), name="ledger-entries"),
    path("ledger-entries/batch", v.LedgerEntryBatchApi.as_view(), name="ledger-entries-batch"),
    path("ledger-entries/<str:entry_ref>", v.LedgerEntryDetailApi.as_view(), name="ledger-entry"),
    path("ledger-entries/<str:entry_ref>/reverse", v.LedgerEntryReverseApi.as_view(), name="ledger-entry-reverse"),
    path("holds", v.HoldListCreateApi.as_view(), name="holds"),
    path("holds/<str:hold_ref>", v.HoldDetailApi.as_view(), name="hold"),
    path("holds/<str:hold_ref>/capture", v.HoldCaptureApi.as_view(), name="hold-capture"),
    path("holds/<str:hold_ref>/release", v.HoldReleaseApi.as_view(), name="hold-release"),
    path("accounts", v.AccountListCreateApi.as_view(), name="accounts"),
    path("accounts/<str:account_ref>", v.AccountDetailApi.as_view(), name="account"),
    path("accounts/<str:account_ref>/close", v.AccountCloseApi.as_view(), name="account-close"),
    path("accounts/<str:account_ref>/freeze", v.AccountFreezeApi.as_view(), name="account-freeze"),
    path("accounts/<str:account_ref>/unfreeze", v.AccountUnfreezeApi.as_view(), name="account-unfreeze"),
    path("accounts/<str:account_ref>/policies", v.AccountPoliciesApi.as_view(), name="account-policies"),
    path("accounts/<str:account_ref>/statement", v.AccountStatementApi.as_view(), name="account-statement"),
    path("accounts/<str:account_ref>/balance", v.AccountBalanceApi.as_view(), name="account-balance"),
    path("policies", v.PolicyListCreateApi.as_view(), name="policies"),
    path("policies/<str:name>/versions", v.PolicyReviseApi.as_view(), name="policy-revise"),
]
