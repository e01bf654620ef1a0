from django.shortcuts import render

from .auth import console_view


@console_view("view")
def overview(request):
    return render(request, "console/overview.html", {"tenant": request.tenant})
