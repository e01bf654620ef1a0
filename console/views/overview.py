from django.shortcuts import render

from console import selectors
from console.auth import console_view


@console_view("view")
def overview(request):
    return render(request, "console/overview.html", {"o": selectors.overview()})
