"""accountability: the discipline role, 问责 records and their links, 批示 follow-ups

Revision ID: 0028
Revises: 0023
Create Date: 2026-12-03 16:30:00

The discipline commission gets a user role of its own (`discipline`). Its records of actions
taken (提醒谈话, 约谈, 通报批评, 诫勉, 问责 …) against a person or a unit are append-only, like
the audit trail, and name what led to them: escalations, or commitments (`commitment_id`
without a foreign key until the commitments ledger's table exists). A leader's 批示 may set a
follow-up deadline, tracked by the accountability ledger.

A post's holders are its tenure rows (valid_from, valid_to); an edit of the holder in place
would rewrite that history, so a trigger keeps every state a post row has had in
`post_changes` (append-only), starting with the posts there are now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = (
    "role IN ('inspector', 'dispatcher', 'unit_handler', 'verifier', 'leader', 'supervisor', "
    "'admin')"
)
NEW_ROLES = (
    "role IN ('inspector', 'dispatcher', 'unit_handler', 'verifier', 'leader', 'supervisor', "
    "'admin', 'discipline')"
)
ACTIONS = (
    "action IN ('reminder_talk', 'interview', 'public_criticism', 'admonishment', "
    "'accountability', 'other')"
)

POST_CHANGES_FUNCTION = """
CREATE FUNCTION duban_post_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO post_changes (post_id, unit_id, role, person_id, valid_from, valid_to, change)
        VALUES (OLD.id, OLD.unit_id, OLD.role, OLD.person_id, OLD.valid_from, OLD.valid_to, 'delete');
        RETURN OLD;
    END IF;
    INSERT INTO post_changes (post_id, unit_id, role, person_id, valid_from, valid_to, change)
    VALUES (NEW.id, NEW.unit_id, NEW.role, NEW.person_id, NEW.valid_from, NEW.valid_to, lower(TG_OP));
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.create_check_constraint(op.f("ck_users_role"), "users", NEW_ROLES)
    op.create_table(
        "accountability_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_person_id", sa.Integer(), nullable=True),
        sa.Column("subject_unit_id", sa.Integer(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(ACTIONS, name=op.f("ck_accountability_records_action")),
        sa.CheckConstraint(
            "subject_person_id IS NOT NULL OR subject_unit_id IS NOT NULL",
            name=op.f("ck_accountability_records_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_person_id"],
            ["people.id"],
            name=op.f("fk_accountability_records_subject_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_unit_id"],
            ["units.id"],
            name=op.f("fk_accountability_records_subject_unit_id_units"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_accountability_records_created_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accountability_records")),
    )
    op.create_index(
        "ix_accountability_records_person",
        "accountability_records",
        ["subject_person_id", "id"],
    )
    op.create_index(
        "ix_accountability_records_unit", "accountability_records", ["subject_unit_id", "id"]
    )
    op.create_table(
        "accountability_links",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.BigInteger(), nullable=True),
        sa.Column("commitment_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(escalation_id IS NULL) <> (commitment_id IS NULL)",
            name=op.f("ck_accountability_links_one"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["accountability_records.id"],
            name=op.f("fk_accountability_links_record_id_accountability_records"),
        ),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name=op.f("fk_accountability_links_escalation_id_escalations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accountability_links")),
    )
    op.create_index("ix_accountability_links_record", "accountability_links", ["record_id"])
    op.create_index("ix_accountability_links_escalation", "accountability_links", ["escalation_id"])
    op.create_table(
        "instruction_follow_ups",
        sa.Column("escalation_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "set_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name=op.f("fk_instruction_follow_ups_escalation_id_escalations"),
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"], ["users.id"], name=op.f("fk_instruction_follow_ups_set_by_id_users")
        ),
        sa.PrimaryKeyConstraint("escalation_id", name=op.f("pk_instruction_follow_ups")),
    )
    op.create_table(
        "post_changes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_changes")),
    )
    op.create_index("ix_post_changes_unit_role", "post_changes", ["unit_id", "role", "id"])
    op.execute(
        "INSERT INTO post_changes (post_id, unit_id, role, person_id, valid_from, valid_to, "
        "change) SELECT id, unit_id, role, person_id, valid_from, valid_to, 'insert' FROM posts "
        "ORDER BY id"
    )
    op.execute(POST_CHANGES_FUNCTION)
    op.execute(
        "CREATE TRIGGER posts_history AFTER INSERT OR UPDATE OR DELETE ON posts "
        "FOR EACH ROW EXECUTE FUNCTION duban_post_changes()"
    )
    # Records, their links and the posts' history are evidence: never changed or removed.
    for table in ("accountability_records", "accountability_links", "post_changes"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION duban_refuse_change()"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS posts_history ON posts")
    op.execute("DROP FUNCTION IF EXISTS duban_post_changes()")
    op.drop_index("ix_post_changes_unit_role", table_name="post_changes")
    op.drop_table("post_changes")
    op.drop_table("instruction_follow_ups")
    op.drop_index("ix_accountability_links_escalation", table_name="accountability_links")
    op.drop_index("ix_accountability_links_record", table_name="accountability_links")
    op.drop_table("accountability_links")
    op.drop_index("ix_accountability_records_unit", table_name="accountability_records")
    op.drop_index("ix_accountability_records_person", table_name="accountability_records")
    op.drop_table("accountability_records")
    # The accounts stay (tokens and audit rows name them) but can no longer sign in.
    op.execute("UPDATE users SET role = 'supervisor', active = false WHERE role = 'discipline'")
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.create_check_constraint(op.f("ck_users_role"), "users", OLD_ROLES)
