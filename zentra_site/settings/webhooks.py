import base64
import hashlib

from . import env

WEBHOOKS_TIMEOUT_SECONDS = env.WEBHOOKS_TIMEOUT_SECONDS
# The lease must outlive the longest attempt, or a slow but alive worker's
# delivery could be handed to a second worker and sent twice.
WEBHOOKS_LEASE_SECONDS = max(env.WEBHOOKS_LEASE_SECONDS, env.WEBHOOKS_TIMEOUT_SECONDS + 5)
# Seconds before attempt n+1 (index n): the first attempt goes at once; after
# the last one fails the delivery is dead-lettered (status failed).
WEBHOOKS_RETRY_SCHEDULE = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
WEBHOOKS_RETRY_JITTER = 0.10  # ± this fraction, so retries of one outage do not arrive in lockstep
WEBHOOKS_DISABLE_AFTER_FAILING_SECONDS = 5 * 24 * 3600
WEBHOOKS_ROTATION_OVERLAP_SECONDS = 24 * 3600
WEBHOOKS_MAX_PAYLOAD_BYTES = 256 * 1024
WEBHOOKS_RESPONSE_EXCERPT_BYTES = 1024
WEBHOOKS_KICK_ON_COMMIT = True
WEBHOOKS_DISPATCH_INTERVAL = env.WEBHOOKS_DISPATCH_INTERVAL
# One dispatcher task claims up to this many due deliveries of a tenant in one
# statement and sends them with this many threads (HTTP waits overlap; the
# database work for the batch is three statements whatever its size).
WEBHOOKS_BATCH_SIZE = max(1, env.WEBHOOKS_BATCH_SIZE)
WEBHOOKS_SEND_THREADS = max(1, env.WEBHOOKS_SEND_THREADS)
# A send starts only while its whole timeout (plus this) fits in the lease,
# so no attempt can still be running when another dispatcher may claim it.
WEBHOOKS_LEASE_MARGIN_SECONDS = 2.0
WEBHOOK_SECRET_KEYS = env.WEBHOOK_SECRET_KEYS or [
    base64.urlsafe_b64encode(hashlib.sha256(b"zentra-webhook-secrets:" + env.SECRET_KEY.encode()).digest()).decode()
]
