"""The lifecycle table, edge by edge and role by role (pure, no database)."""

from __future__ import annotations

import itertools

import pytest

from services.core.evidence.rules import may_attach
from services.core.findings.rules import EDGES, ROLES, Action, Plan, plan_transition
from services.core.identity.principal import Actor
from services.core.models import Status
from services.core.platform.errors import Refusal

A, S = Action, Status
ALL_ROLES = ("inspector", "dispatcher", "unit_handler", "verifier", "leader", "supervisor", "admin")

# The lifecycle of DESIGN §4, written out independently of the implementation's table.
EXPECTED: dict[tuple[Action, Status], Status] = {
    (A.DISPATCH, S.REPORTED): S.ASSIGNED,
    (A.ACCEPT, S.ASSIGNED): S.ACCEPTED,
    # A unit only asks to return (回退); the item leaves it when a dispatcher approves.
    **{(A.RETURN, s): s for s in (S.ASSIGNED, S.ACCEPTED)},
    **{(A.APPROVE_RETURN, s): S.REPORTED for s in (S.ASSIGNED, S.ACCEPTED)},
    **{(A.DENY_RETURN, s): s for s in (S.ASSIGNED, S.ACCEPTED)},
    # A transfer (转办) takes the item from the unit holding it; the new unit signs for it.
    **{(A.TRANSFER, s): S.ASSIGNED for s in (S.ASSIGNED, S.ACCEPTED, S.SUBMITTED)},
    **{(A.PROGRESS, s): s for s in (S.ASSIGNED, S.ACCEPTED)},
    (A.SUBMIT, S.ACCEPTED): S.SUBMITTED,
    (A.VERIFY, S.SUBMITTED): S.CLOSED,
    (A.REJECT, S.SUBMITTED): S.ACCEPTED,
    **{(A.CLOSE_INVALID, s): S.CLOSED for s in (S.REPORTED, S.ASSIGNED, S.ACCEPTED, S.SUBMITTED)},
    **{(A.MARK_DUPLICATE, s): S.CLOSED for s in (S.REPORTED, S.ASSIGNED, S.ACCEPTED, S.SUBMITTED)},
    **{(A.REQUEST_EXTENSION, s): s for s in (S.ASSIGNED, S.ACCEPTED)},
    **{(A.APPROVE_EXTENSION, s): s for s in (S.ASSIGNED, S.ACCEPTED)},
    **{(A.DENY_EXTENSION, s): s for s in (S.ASSIGNED, S.ACCEPTED)},
    # A recurrence counts against the unit responsible: confirmed only once there is one.
    **{(A.CONFIRM_RECURRENCE, s): s for s in (S.ASSIGNED, S.ACCEPTED, S.SUBMITTED)},
    **{(A.DISMISS_RECURRENCE, s): s for s in (S.REPORTED, S.ASSIGNED, S.ACCEPTED, S.SUBMITTED)},
    # 挂账: asked and decided while the clock runs; a suspended finding may still be closed as
    # invalid or a duplicate, and resumes to where it was (here: accepted).
    **{(A.REQUEST_SUSPENSION, s): s for s in (S.ASSIGNED, S.ACCEPTED)},
    **{(A.APPROVE_SUSPENSION, s): S.SUSPENDED for s in (S.ASSIGNED, S.ACCEPTED)},
    **{(A.REFUSE_SUSPENSION, s): s for s in (S.ASSIGNED, S.ACCEPTED)},
    (A.RESUME, S.SUSPENDED): S.ACCEPTED,
    (A.CLOSE_INVALID, S.SUSPENDED): S.CLOSED,
    (A.MARK_DUPLICATE, S.SUSPENDED): S.CLOSED,
    (A.DISMISS_RECURRENCE, S.SUSPENDED): S.SUSPENDED,
}
EXPECTED_ROLE = {
    A.DISPATCH: "dispatcher",
    A.CLOSE_INVALID: "dispatcher",
    A.MARK_DUPLICATE: "dispatcher",
    A.APPROVE_EXTENSION: "dispatcher",
    A.DENY_EXTENSION: "dispatcher",
    A.CONFIRM_RECURRENCE: "dispatcher",
    A.DISMISS_RECURRENCE: "dispatcher",
    A.APPROVE_RETURN: "dispatcher",
    A.DENY_RETURN: "dispatcher",
    A.TRANSFER: "dispatcher",
    A.PROGRESS: "unit_handler",
    A.ACCEPT: "unit_handler",
    A.RETURN: "unit_handler",
    A.SUBMIT: "unit_handler",
    A.REQUEST_EXTENSION: "unit_handler",
    A.VERIFY: "verifier",
    A.REJECT: "verifier",
    A.REQUEST_SUSPENSION: "unit_handler",
    A.APPROVE_SUSPENSION: "dispatcher",
    A.REFUSE_SUSPENSION: "dispatcher",
    A.RESUME: "dispatcher",
}
# Actions more than one role may take, beside EXPECTED_ROLE's.
ALSO_ROLE = {A.RESUME: "unit_handler"}
REASONS = {A.VERIFY: "rectified", A.CLOSE_INVALID: "invalid", A.MARK_DUPLICATE: "duplicate"}
PENDING = {A.APPROVE_EXTENSION, A.DENY_EXTENSION}
DECISIONS = {A.CONFIRM_RECURRENCE, A.DISMISS_RECURRENCE}
RETURNS = {A.APPROVE_RETURN, A.DENY_RETURN}
SUSPENSION_PENDING = {A.APPROVE_SUSPENSION, A.REFUSE_SUSPENSION}


def actor(role: str, holds: bool | None = None, user_id: int = 1) -> Actor:
    # By default each role stands where it may act: a unit handler over the responsible unit,
    # a verifier outside it.
    if holds is None:
        holds = role != "verifier"
    return Actor(user_id=user_id, role=role, holds_responsible_unit=holds)


@pytest.mark.parametrize(("action", "status"), list(itertools.product(Action, Status)))
def test_every_edge_allowed_or_refused(action: Action, status: Status) -> None:
    result = plan_transition(
        action,
        status,
        actor(EXPECTED_ROLE[action]),
        extension_pending=action in PENDING,
        recurrence_pending=action in DECISIONS,
        return_pending=action in RETURNS,
        suspension_pending=action in SUSPENSION_PENDING,
    )
    if (action, status) in EXPECTED:
        assert result == Plan(action, status, EXPECTED[(action, status)], REASONS.get(action))
    else:
        assert isinstance(result, Refusal)
        assert result.status == 409


@pytest.mark.parametrize(("action", "role"), list(itertools.product(Action, ALL_ROLES)))
def test_only_the_right_role_may_act(action: Action, role: str) -> None:
    status = next(s for (a, s) in EXPECTED if a is action)
    result = plan_transition(
        action,
        status,
        actor(role),
        extension_pending=action in PENDING,
        recurrence_pending=action in DECISIONS,
        return_pending=action in RETURNS,
        suspension_pending=action in SUSPENSION_PENDING,
    )
    if role in (EXPECTED_ROLE[action], ALSO_ROLE.get(action)):
        assert isinstance(result, Plan)
    else:
        assert isinstance(result, Refusal)
        assert result.status == 403


@pytest.mark.parametrize(
    "action", [A.ACCEPT, A.RETURN, A.SUBMIT, A.REQUEST_EXTENSION, A.REQUEST_SUSPENSION, A.RESUME]
)
def test_unit_actions_need_the_responsible_unit(action: Action) -> None:
    status = next(s for (a, s) in EXPECTED if a is action)
    result = plan_transition(action, status, actor("unit_handler", holds=False))
    assert isinstance(result, Refusal)
    assert result.status == 403
    assert "responsible unit" in result.reason


@pytest.mark.parametrize("action", [A.VERIFY, A.REJECT])
def test_verifier_never_verifies_own_submission(action: Action) -> None:
    own = plan_transition(action, S.SUBMITTED, actor("verifier", user_id=7), submitted_by=7)
    other = plan_transition(action, S.SUBMITTED, actor("verifier", user_id=8), submitted_by=7)
    assert isinstance(own, Refusal)
    assert own.status == 403
    assert isinstance(other, Plan)


def test_extension_needs_a_pending_request_and_only_one_at_a_time() -> None:
    assert plan_transition(A.APPROVE_EXTENSION, S.ASSIGNED, actor("dispatcher")) == Refusal(
        409, "There is no pending extension request."
    )
    again = plan_transition(
        A.REQUEST_EXTENSION, S.ACCEPTED, actor("unit_handler"), extension_pending=True
    )
    assert isinstance(again, Refusal)
    assert again.status == 409


@pytest.mark.parametrize("action", sorted(DECISIONS))
def test_a_recurrence_is_decided_only_when_one_is_pending(action: Action) -> None:
    assert plan_transition(action, S.ASSIGNED, actor("dispatcher")) == Refusal(
        409, "There is no possible recurrence to decide."
    )


@pytest.mark.parametrize("action", sorted(RETURNS))
def test_a_return_is_decided_only_when_one_is_pending(action: Action) -> None:
    assert plan_transition(action, S.ACCEPTED, actor("dispatcher")) == Refusal(
        409, "There is no pending return request."
    )


def test_a_unit_asks_to_return_once_at_a_time() -> None:
    again = plan_transition(A.RETURN, S.ACCEPTED, actor("unit_handler"), return_pending=True)
    assert again == Refusal(409, "A return request is already pending.")


@pytest.mark.parametrize(
    ("lead", "co", "allowed"),
    [(True, False, True), (False, True, True), (True, True, True), (False, False, False)],
)
def test_progress_by_the_lead_or_a_co_handling_unit(lead: bool, co: bool, allowed: bool) -> None:
    handler = Actor(user_id=1, role="unit_handler", holds_responsible_unit=lead, holds_co_unit=co)
    result = plan_transition(A.PROGRESS, S.ACCEPTED, handler)
    if allowed:
        assert isinstance(result, Plan)
    else:
        assert isinstance(result, Refusal)
        assert result.status == 403


@pytest.mark.parametrize("action", [A.ACCEPT, A.RETURN, A.SUBMIT, A.REQUEST_EXTENSION])
def test_a_co_handling_unit_does_not_act_for_the_lead(action: Action) -> None:
    status = next(s for (a, s) in EXPECTED if a is action)
    co = Actor(user_id=1, role="unit_handler", holds_responsible_unit=False, holds_co_unit=True)
    result = plan_transition(action, status, co)
    assert isinstance(result, Refusal)
    assert result.status == 403


def test_a_suspension_request_at_a_time_and_decided_only_when_pending() -> None:
    again = plan_transition(
        A.REQUEST_SUSPENSION, S.ACCEPTED, actor("unit_handler"), suspension_pending=True
    )
    assert again == Refusal(409, "A suspension request is already pending.")
    for action in SUSPENSION_PENDING:
        assert plan_transition(action, S.ACCEPTED, actor("dispatcher")) == Refusal(
            409, "There is no pending suspension request."
        )


@pytest.mark.parametrize("resume_to", [S.ASSIGNED, S.ACCEPTED])
def test_resume_returns_to_the_state_it_was_suspended_from(resume_to: Status) -> None:
    for who in (actor("dispatcher", holds=False), actor("unit_handler")):
        plan = plan_transition(A.RESUME, S.SUSPENDED, who, resume_to=resume_to)
        assert plan == Plan(A.RESUME, S.SUSPENDED, resume_to, None)


def test_the_office_resumes_any_suspension_a_unit_only_its_own() -> None:
    office = plan_transition(A.RESUME, S.SUSPENDED, actor("dispatcher", holds=False))
    other_unit = plan_transition(A.RESUME, S.SUSPENDED, actor("unit_handler", holds=False))
    assert isinstance(office, Plan)
    assert isinstance(other_unit, Refusal)
    assert other_unit.status == 403


@pytest.mark.parametrize(
    "action",
    [A.ACCEPT, A.SUBMIT, A.RETURN, A.REQUEST_EXTENSION, A.REQUEST_SUSPENSION, A.VERIFY],
)
def test_a_suspended_finding_takes_no_work_until_it_resumes(action: Action) -> None:
    result = plan_transition(action, S.SUSPENDED, actor(EXPECTED_ROLE[action]))
    assert isinstance(result, Refusal)
    assert result.status == 409


def test_table_and_roles_cover_every_action() -> None:
    assert set(EDGES) == set(Action) == set(ROLES)


@pytest.mark.parametrize(
    ("verifier", "submitted_by", "holds", "outcome"),
    [
        (8, 7, False, "rectified"),  # someone else's submission, another unit
        (7, 7, False, "own submission"),
        (8, 7, True, "own unit"),  # the responsible unit is the verifier's or below it
        (7, 7, True, "own submission"),
        (8, None, False, "rectified"),
    ],
)
@pytest.mark.parametrize("action", [A.VERIFY, A.REJECT])
def test_verification_is_independent_of_submitter_and_unit(
    action: Action, verifier: int, submitted_by: int | None, holds: bool, outcome: str
) -> None:
    result = plan_transition(
        action,
        S.SUBMITTED,
        actor("verifier", holds=holds, user_id=verifier),
        submitted_by=submitted_by,
    )
    if outcome == "rectified":
        assert isinstance(result, Plan)
    else:
        assert isinstance(result, Refusal)
        assert result.status == 403
        assert outcome in result.reason


UPLOADERS = {
    "reporter": (actor("dispatcher", holds=False), True),
    "inspector": (actor("inspector", holds=False), False),
    "handler": (actor("unit_handler", holds=True), False),
    "outside_handler": (actor("unit_handler", holds=False), False),
    "verifier": (actor("verifier", holds=False), False),
    "supervisor": (actor("supervisor", holds=False), False),
}
# (kind, who) -> the statuses in which that upload is allowed; refusals elsewhere are 403
# for the wrong person and 409 for the right person at the wrong time.
MAY_ATTACH: dict[tuple[str, str], frozenset[Status]] = {
    ("before", "reporter"): frozenset(Status),
    ("before", "inspector"): frozenset(Status),
    ("after", "handler"): frozenset({S.ACCEPTED}),
}


@pytest.mark.parametrize(
    ("kind", "who", "status"),
    list(itertools.product(("before", "after"), UPLOADERS, Status)),
)
def test_who_may_attach_which_photo_when(kind: str, who: str, status: Status) -> None:
    uploader, is_reporter = UPLOADERS[who]
    refusal = may_attach(kind, status, uploader, is_reporter=is_reporter)
    allowed = MAY_ATTACH.get((kind, who), frozenset())
    if status in allowed:
        assert refusal is None
    else:
        assert refusal is not None
        assert refusal.status == (409 if allowed else 403)
