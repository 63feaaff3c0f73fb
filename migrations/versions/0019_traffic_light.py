"""traffic light: every finding stores the instant its light turns yellow

Revision ID: 0019
Revises: 0014
Create Date: 2026-12-04 09:00:00

A finding whose rectification clock runs (assigned, accepted) shows green, yellow (past the
reminder fraction of the time between dispatch and due, 80 % unless its escalation plan
says otherwise) or red (past due); README "The traffic light". The lists filter on it and
the unit statistics count yellow findings, so the yellow instant must be a column an index
can range over rather than a computation per row.

`yellow_at` is a stored generated column over the three columns it depends on (dispatched_at,
due_at and the plan's `reminder_at`): every writer, the intake's hand-written statements,
the ORM's transitions, bulk loads and a DBA in psql alike, leaves it right without knowing of
it, an extension moves it with the deadline, and adding it computes it for every existing row
(the backfill). `finding_yellow_at` counts in whole microseconds and the fraction in
thousandths, so the Python twin (services.core.escalation.rules.yellow_time) gives the same
instant to the microsecond. It adds only pure-time intervals to UTC wall time, which does not
depend on the session's zone: the function is immutable, as a generated column needs.

`ix_findings_light` holds the findings whose clock runs, by `yellow_at`: the range
`yellow_at <= now` is every yellow and red one (red ones turned yellow before they fell due),
which the statistics split by `due_at` in one index-only pass.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

YELLOW_AT = """
CREATE FUNCTION finding_yellow_at(dispatched timestamptz, due timestamptz, plan jsonb)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN due IS NULL THEN NULL
    WHEN dispatched IS NULL OR due <= dispatched THEN due
    ELSE timezone('UTC', timezone('UTC', dispatched) + interval '1 microsecond' * (
        (extract(epoch FROM due - dispatched) * 1000000)::bigint
        * CASE WHEN jsonb_typeof(plan -> 'reminder_at') = 'number'
                    AND (plan ->> 'reminder_at')::float8 > 0
                    AND (plan ->> 'reminder_at')::float8 < 1
               THEN round((plan ->> 'reminder_at')::float8 * 1000)::bigint
               ELSE 800 END
        / 1000))
END
$$
"""


def upgrade() -> None:
    op.execute(YELLOW_AT)
    op.add_column(
        "findings",
        sa.Column(
            "yellow_at",
            sa.DateTime(timezone=True),
            sa.Computed(
                "finding_yellow_at(dispatched_at, due_at, escalation_plan)", persisted=True
            ),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_findings_light",
        "findings",
        ["yellow_at"],
        postgresql_include=["due_at", "responsible_unit_id", "source", "reported_at"],
        postgresql_where=sa.text("status IN ('assigned', 'accepted')"),
    )


def downgrade() -> None:
    op.drop_index("ix_findings_light", table_name="findings")
    op.drop_column("findings", "yellow_at")
    op.execute("DROP FUNCTION finding_yellow_at(timestamptz, timestamptz, jsonb)")
