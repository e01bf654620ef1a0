from . import env

# Provider callbacks are small JSON events (Stripe's largest are a few KB);
# /v1/inbound/… refuses bodies above this before reading them.
INBOUND_MAX_BODY_BYTES = env.INBOUND_MAX_BODY_BYTES
# A stored delivery whose apply task never ran (Redis down, worker killed) is
# picked up by the sweep after this long.
INBOUND_SWEEP_GRACE_SECONDS = env.INBOUND_SWEEP_GRACE_SECONDS
INBOUND_SWEEP_INTERVAL = env.INBOUND_SWEEP_INTERVAL
# First re-try of a waiting event (doubling up to an hour); the arrival of the
# event it waits for re-tries it at once anyway.
INBOUND_WAIT_RETRY_SECONDS = 30
# After a secret rotation the previous secret keeps verifying this long.
INBOUND_ROTATION_OVERLAP_SECONDS = 24 * 3600
