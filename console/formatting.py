"""Plain-text formatting shared by templates and the evidence read model."""
from __future__ import annotations

from core.actors import actor_display

# One spelling of an actor for every page and for the audit filter that
# matches it (audit.selectors.actor_display_q).
who = actor_display
