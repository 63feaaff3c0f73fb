"""Who may add which photo to a finding, and when. Pure: no I/O."""

from __future__ import annotations

from services.core.identity.principal import Actor
from services.core.models import Status
from services.core.platform.errors import Refusal


def may_attach(kind: str, status: Status, actor: Actor, *, is_reporter: bool) -> Refusal | None:
    """Who may add a photo. Before-photos show the problem: its reporter or any inspector,
    at any time (phones upload later when offline). After-photos show the rectification: a
    handler of the responsible unit, while the unit holds the accepted finding."""
    if kind == "before":
        if is_reporter or actor.role == "inspector":
            return None
        return Refusal(403, "Only the reporter or an inspector may add before-photos.")
    if actor.role != "unit_handler" or not actor.holds_responsible_unit:
        return Refusal(403, "Only a handler of the responsible unit may add after-photos.")
    if status is not Status.ACCEPTED:
        return Refusal(
            409, f"After-photos are added while the finding is accepted; it is {status.value}."
        )
    return None


# Who takes the lifecycle's steps or replies to a 批示: they may attach notes, photos and
# files to a step. Supervisors only read; inspectors report (their photos are evidence).
ATTACHING_ROLES = frozenset({"dispatcher", "unit_handler", "verifier", "leader", "admin"})


def may_attach_file(role: str) -> Refusal | None:
    if role in ATTACHING_ROLES:
        return None
    return Refusal(403, f"Role {role!r} takes no step a file could be attached to.")
