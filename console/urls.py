from django.contrib.auth import views as auth_views
from django.urls import path

from users.forms import ConsoleAuthenticationForm

from .views import accounts, approvals, audit, entries, events, exports, inbound, overview, periods, platform, policies

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
    path("period-reopens/<str:public_id>/decide/", periods.reopen_decide, name="reopen_decide"),
    path("accounts/<str:code>/changes/", periods.balance_changes, name="balance_changes"),
    path("policies/", policies.policy_list, name="policies"),
    path("policies/new/", policies.policy_new, name="policy_new"),
    path("policies/<str:name>/revise/", policies.policy_revise_view, name="policy_revise"),
    path("audit/", audit.audit_list, name="audit"),
    path("audit/verify/", audit.audit_verify, name="audit_verify"),
    path("exports/", exports.export_list, name="exports"),
    path("exports/new/", exports.export_new, name="export_new"),
    path("exports/<int:export_id>/", exports.export_detail, name="export"),
    path("exports/<int:export_id>/file/", exports.export_file, name="export_file"),
    path("exports/<int:export_id>/manifest/", exports.export_manifest, name="export_manifest"),
    path("events/", events.event_list, name="events"),
    path("inbound/", inbound.inbound_list, name="inbound"),
    path("inbound/<str:public_id>/replay/", inbound.inbound_replay, name="inbound_replay"),
    path("platform/", platform.platform_home, name="platform"),
]
