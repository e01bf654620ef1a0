from . import env

# Provider callbacks are small JSON events (Stripe's largest are a few KB);
# /v1/inbound/… refuses bodies above this before reading them.
INBOUND_MAX_BODY_BYTES = env.INBOUND_MAX_BODY_BYTES
# A stored delivery whose apply task never ran (Redis down, worker killed) is
# picked up by the sweep after this long.
INBOUND_SWEEP_GRACE_SECONDS = env.INBOUND_SWEEP_GRACE_SECONDS
INBOUND_SWEEP_INTERVAL = env.INBOUND_SWEEP_INTERVAL
# Deliveries whose signature fails are stored as evidence, up to this many
# per provider and minute; past it they are refused the same way but not
# stored (the receiver needs no API key: anyone can send it bodies).
INBOUND_REJECTED_STORED_PER_MINUTE = env.INBOUND_REJECTED_STORED_PER_MINUTE
# First re-try of a waiting event (doubling up to an hour); the arrival of the
# event it waits for re-tries it at once anyway.
INBOUND_WAIT_RETRY_SECONDS = 30
# After a secret rotation the previous secret keeps verifying this long.
INBOUND_ROTATION_OVERLAP_SECONDS = 24 * 3600
