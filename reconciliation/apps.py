from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation"

    def ready(self):
        # Registers the approval executor for reconciliation adjustments
        # (ledger.services.approvals.APPROVAL_EXECUTORS).
        from .services import resolution  # noqa: F401
