"""The console's navigation. A page appears here with the capability it
needs, so users only see what they may open (the view enforces it anyway).
Adding a page: see docs/console.md, "Adding a page"."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    section: str
    label: str
    url_name: str
    capability: str
    prefix: str  # highlights the item for every path under it


NAV: list[NavItem] = [
    NavItem("Ledger", "Overview", "console:overview", "view", "/console/$"),
    NavItem("Ledger", "Accounts", "console:accounts", "view", "/console/accounts/"),
    NavItem("Ledger", "Entries", "console:entries", "view", "/console/entries/"),
    NavItem("Ledger", "Holds", "console:holds", "view", "/console/holds/"),
    NavItem("Ledger", "New entry", "console:entry_new", "post", "/console/new-entry/"),
    NavItem("Ledger", "Reconciliation", "console:reconciliations", "view", "/console/reconciliation/"),
    NavItem("Controls", "Approvals", "console:approvals", "view", "/console/approvals/"),
    NavItem("Controls", "Policies", "console:policies", "view", "/console/policies/"),
    NavItem("Controls", "Periods", "console:periods", "view", "/console/periods/"),
    NavItem("Controls", "People", "console:people", "admin", "/console/people/"),
    NavItem("Evidence", "Audit log", "console:audit", "audit", "/console/audit/"),
    NavItem("Evidence", "Exports", "console:exports", "export", "/console/exports/"),
    NavItem("Evidence", "Events", "console:events", "view", "/console/events/"),
    NavItem("Evidence", "Inbound", "console:inbound", "view", "/console/inbound/"),
    NavItem("Webhooks", "Endpoints", "console:webhooks", "view", "/console/webhooks/"),
    NavItem("Webhooks", "Deliveries", "console:deliveries", "view", "/console/deliveries/"),
]
