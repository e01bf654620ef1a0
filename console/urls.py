from django.contrib.auth import views as auth_views
from django.urls import path

from users.forms import ConsoleAuthenticationForm

from .views import (
    accounts, approvals, audit, entries, events, inbound, overview, people, periods, platform, policies, reconciliation,
)

app_name = "console"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(
        template_name="console/login.html", redirect_authenticated_user=True,
        authentication_form=ConsoleAuthenticationForm),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/console/login/"), name="logout"),
    path("", overview.overview, name="overview"),
    path("accounts/", accounts.account_list, name="accounts"),
    path("accounts/<str:code>/", accounts.account_detail, name="account"),
    path("entries/", entries.entry_list, name="entries"),
    path("entries/<str:ref>/", entries.entry_detail, name="entry"),
    path("evidence/", entries.evidence_by_key, name="evidence"),
    path("new-entry/", entries.entry_new, name="entry_new"),
    path("approvals/", approvals.approval_list, name="approvals"),
    path("approvals/<str:public_id>/", approvals.approval_detail, name="approval"),
    path("approvals/<str:public_id>/decide/", approvals.approval_decide, name="approval_decide"),
    path("periods/", periods.period_list, name="periods"),
    path("periods/<str:ref>/", periods.period_detail, name="period"),
    path("periods/<str:ref>/action/", periods.period_action, name="period_action"),
    path("periods/<str:ref>/trial-balance.csv", periods.trial_balance_csv, name="period_csv"),
    path("period-reopens/<str:public_id>/decide/", periods.reopen_decide, name="reopen_decide"),
    path("accounts/<str:code>/changes/", periods.balance_changes, name="balance_changes"),
    path("policies/", policies.policy_list, name="policies"),
    path("policies/new/", policies.policy_new, name="policy_new"),
    path("policies/<str:name>/revise/", policies.policy_revise_view, name="policy_revise"),
    path("audit/", audit.audit_list, name="audit"),
    path("audit.csv", audit.audit_csv, name="audit_csv"),
    path("events/", events.event_list, name="events"),
    path("inbound/", inbound.inbound_list, name="inbound"),
    path("inbound/<str:public_id>/replay/", inbound.inbound_replay, name="inbound_replay"),
    path("reconciliation/", reconciliation.run_list, name="reconciliations"),
    path("reconciliation/upload/", reconciliation.run_upload, name="reconciliation_upload"),
    path("reconciliation/<str:run_id>/", reconciliation.run_detail, name="reconciliation"),
    path("reconciliation/<str:run_id>/rerun/", reconciliation.run_rerun, name="reconciliation_rerun"),
    path("reconciliation/<str:run_id>/items/<str:item_id>/", reconciliation.item_detail, name="reconciliation_item"),
    path("reconciliation/<str:run_id>/items/<str:item_id>/match/", reconciliation.item_match,
         name="reconciliation_item_match"),
    path("reconciliation/<str:run_id>/items/<str:item_id>/adjust/", reconciliation.item_adjust,
         name="reconciliation_item_adjust"),
    path("reconciliation/<str:run_id>/items/<str:item_id>/explain/", reconciliation.item_explain,
         name="reconciliation_item_explain"),
    path("people/", people.people_list, name="people"),
    path("people/new/", people.person_create, name="person_create"),
    path("people/<str:user_id>/", people.person_detail, name="person"),
    path("people/<str:user_id>/role/", people.person_role, name="person_role"),
    path("people/<str:user_id>/deactivate/", people.person_deactivate, name="person_deactivate"),
    path("platform/", platform.platform_home, name="platform"),
]
