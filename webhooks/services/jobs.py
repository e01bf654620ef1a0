"""What a claim carries from the claim statement through the send to the
record of its attempt. Built once from the claim's row, so neither the send
nor the recording reads the rows again."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from events.models import Event
from webhooks.models import WebhookEndpoint
from webhooks.sender import SendResult


@dataclass(frozen=True)
class Taken:
    """What taking a claim learned: everything the send and the result need,
    so neither has to read the rows again."""

    trigger: str
    attempts_made: int
    final_after_next: bool
    endpoint: WebhookEndpoint
    event: Event


@dataclass(frozen=True)
class Claim:
    """A due delivery leased to this dispatcher: the attempt `claim_seq`
    grants is its to make, once."""

    delivery_id: int
    claim_seq: int
    taken: Taken


@dataclass(frozen=True)
class Job(Claim):
    """One claim, ready to send: the exact bytes and the secrets that sign them."""

    body: bytes
    secrets: list[str]


@dataclass(frozen=True)
class Outcome:
    """A sent job: what the receiver answered, and when the attempt ran."""

    job: Job
    result: SendResult
    started: datetime
    finished: datetime
