"""One way to send an export's file: the API and the console both stream it
through here, so every download is digested and audited the same way."""
from __future__ import annotations

from django.db import connection, transaction
from django.http import StreamingHttpResponse

from core.actors import Actor
from audit.models import Export
from audit.selectors import export_csv, export_file_name
from audit.services.exports import export_complete
from core.context import correlation_id_var, tenant_var


def export_file_response(*, export: Export, actor: Actor, tenant) -> StreamingHttpResponse:
    digest = export_csv(export=export)
    cid = correlation_id_var.get()

    def body():
        # Runs after the view and the tenant middleware have returned: put
        # the tenant schema and request context back for the stream.
        connection.set_tenant(tenant)
        tenant_var.set(tenant.slug)
        correlation_id_var.set(cid)
        try:
            with transaction.atomic():  # server-side cursor: rows are fetched in chunks
                yield from digest
            export_complete(actor=actor, export=export, digest=digest, delivered=True)
        finally:
            connection.set_schema_to_public()

    response = StreamingHttpResponse(body(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_file_name(export=export)}"'
    response["X-Export-Id"] = str(export.pk)
    response["Cache-Control"] = "no-store"
    if export.sha256:
        response["X-Content-SHA256"] = export.sha256
    return response
