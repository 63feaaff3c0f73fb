"""Who may report a finding of each source, and through which way in (README "Sources").

A finding's source is a claim: an exposure-video finding counts double in the ranking, a
leader-assigned one speaks with a leader's authority, a self-assessment is a unit's own check.
So the server checks it against the caller's role, scope and the way the finding came in.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.core.identity.principal import Principal


class Way(StrEnum):
    """How a finding comes in."""

    # POST /findings and POST /findings/batch.
    REPORT = "report"
    # A segment of a video registered with POST /exposure-videos.
    EXPOSURE_VIDEO = "exposure_video"


@dataclass(frozen=True)
class SourceRule:
    roles: frozenset[str]
    way: Way
    # Only about the caller's own unit: the caller belongs to a unit (not to the campaign
    # office or the city) and names the unit of the place, which must lie in their subtree.
    own_unit: bool = False


SOURCE_RULES: Mapping[str, SourceRule] = {
    # A problem seen on the street: the everyday report of anyone at work in the campaign
    # (DESIGN §7's "inspector+"); only the read-only supervisor does not report.
    "inspection": SourceRule(
        frozenset({"inspector", "dispatcher", "unit_handler", "verifier", "leader", "admin"}),
        Way.REPORT,
    ),
    # A citizen's complaint (12345): taken in by the campaign office's desk or an inspector.
    "public_report": SourceRule(frozenset({"inspector", "dispatcher"}), Way.REPORT),
    # A leader's assignment: by the leader, or recorded for them by the campaign office.
    "leader_assigned": SourceRule(frozenset({"leader", "dispatcher"}), Way.REPORT),
    # A unit checking itself against the evaluation criteria (自评自测).
    "self_assessment": SourceRule(
        frozenset({"inspector", "unit_handler", "leader"}), Way.REPORT, own_unit=True
    ),
    # Counted double in the ranking: only as a segment of a registered video.
    "exposure_video": SourceRule(frozenset({"dispatcher", "admin"}), Way.EXPOSURE_VIDEO),
}


def reporting_roles(way: Way) -> frozenset[str]:
    """The roles that may report at least one source through `way`."""
    return frozenset(
        role for rule in SOURCE_RULES.values() if rule.way is way for role in rule.roles
    )


def sources_for(role: str, way: Way) -> list[str]:
    return sorted(s for s, rule in SOURCE_RULES.items() if rule.way is way and role in rule.roles)


def source_refusal(source: str, caller: Principal, way: Way) -> str | None:
    """Why `caller` may not report a finding of `source` through `way`, or None if they may.
    The own-unit rule's other half, that the unit named lies in the caller's subtree, is the
    intake's check of every unit named."""
    rule = SOURCE_RULES.get(source)
    if rule is None:
        return f"Unknown source {source!r}."
    if rule.way is not way:
        if rule.way is Way.EXPOSURE_VIDEO:
            return (
                f"{source} findings come only from registering the video "
                "(POST /api/v1/exposure-videos)."
            )
        return f"{source} findings are reported with POST /api/v1/findings."
    if caller.role not in rule.roles:
        allowed = ", ".join(sources_for(caller.role, way)) or "none"
        return (
            f"Role {caller.role!r} may not report {source} findings "
            f"(who may: {', '.join(sorted(rule.roles))}; yours: {allowed})."
        )
    if rule.own_unit and caller.city_wide:
        return f"{source} findings are a unit's own: report them from an account of that unit."
    return None
