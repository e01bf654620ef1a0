import logging

from core.context import correlation_id_var, tenant_var


class ContextFilter(logging.Filter):
    """Bind the correlation id and tenant of the current request/task to every log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id_var.get()
        record.tenant = tenant_var.get()
        return True
