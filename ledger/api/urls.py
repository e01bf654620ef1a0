"""/v1/ routes of the ledger app (included by zentra_site/urls.py)."""
from django.urls import path  # noqa: F401

urlpatterns: list = []
