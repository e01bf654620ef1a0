from . import env

# Provider callbacks are small JSON events (Stripe's largest are a few KB);
# /v1/inbound/… refuses bodies above this before reading them.
INBOUND_MAX_BODY_BYTES = env.INBOUND_MAX_BODY_BYTES
# A stored delivery whose apply task never ran (Redis down, worker killed) is
# picked up by the sweep after this long.
INBOUND_SWEEP_GRACE_SECONDS = env.INBOUND_SWEEP_GRACE_SECONDS
INBOUND_SWEEP_INTERVAL = env.INBOUND_SWEEP_INTERVAL
# A delivery whose signature fails is stored as evidence only: its body's
# hash and size, its first INBOUND_REJECTED_BODY_PREFIX_BYTES, and the
# headers that say who sent it (the receiver needs no API key: anyone can
# send it bodies). What that evidence takes is counted in bytes per provider
# and minute; past INBOUND_REJECTED_STORED_BYTES_PER_MINUTE such deliveries
# are refused the same way but only logged.
INBOUND_REJECTED_BODY_PREFIX_BYTES = 1024
INBOUND_REJECTED_STORED_BYTES_PER_MINUTE = env.INBOUND_REJECTED_STORED_BYTES_PER_MINUTE
# Rejected deliveries (any reason) are deleted this many days after arrival
# by the providers.purge_rejected beat task.
INBOUND_REJECTED_RETENTION_DAYS = env.INBOUND_REJECTED_RETENTION_DAYS
# First re-try of a waiting event (doubling up to an hour); the arrival of the
# event it waits for re-tries it at once anyway.
INBOUND_WAIT_RETRY_SECONDS = 30
# After a secret rotation the previous secret keeps verifying this long.
INBOUND_ROTATION_OVERLAP_SECONDS = 24 * 3600
