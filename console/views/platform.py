from __future__ import annotations

from django.conf import settings
from django.shortcuts import render

from console.auth import platform_view
from console.forms import TenantCreateForm
from console.messages import friendly
from console.services.platform import tenant_onboard
from console.templatetags.console import new_form_key
from core import errors
from tenants.models import Tenant

from core.actors import actor_for
from .common import done


def _page(request, form, *, problem: str = "", status: int = 200):
    tenants = Tenant.objects.prefetch_related("domains").order_by("-created_at")[:200]
    return render(request, "console/platform.html",
                  {"form": form, "tenants": tenants, "problem": problem, "base_domain": settings.BASE_DOMAIN},
                  status=status)


@platform_view
def platform_home(request):
    if request.method != "POST":
        return _page(request, TenantCreateForm(initial={"form_key": new_form_key("plt")}))
    form = TenantCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    d = form.cleaned_data
    try:
        out = tenant_onboard(
            actor=actor_for(request), form_key=d["form_key"], slug=d["slug"], name=d["name"],
            domain=d["domain"] or f"{d['slug']}.{settings.BASE_DOMAIN}", admin_username=d["admin_username"],
            admin_password=d["admin_password"],
        )
    except errors.ZentraError as exc:
        return _page(request, form, problem=friendly(exc), status=exc.status)
    return done(request, out.result, replayed=out.replayed)
