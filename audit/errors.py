"""The audit exports' typed errors (stable codes on core.errors.ZentraError)."""
from core.errors import ZentraError


class UnknownExportKind(ZentraError):
    status, code, title = 400, "unknown_export_kind", "There is no export of this kind"


class ExportNotFound(ZentraError):
    status, code, title = 404, "export_not_found", "No such export"


class ExportTooLarge(ZentraError):
    status, code, title = 422, "export_too_large", "The export matches more rows than this tenant may export at once"
