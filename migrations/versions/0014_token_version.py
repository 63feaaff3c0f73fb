"""token version: a logout, a password change or a deactivation ends every session at once

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 09:00:00

Access tokens are signed and short-lived, and until now nothing on the server could end one
before it expired: after a logout the old cookie still read the dashboard and the API. Each
access token now carries the user's `token_version` as it was when the token was issued,
and every request compares it with the column, read in the same statement as the caller
(services/core/identity/callers.py), so it costs no round trip. Raising the column by one ends every
access token and dashboard session of the user at once.

A logout raises it itself. A password change and a deactivation raise it in a trigger,
whoever makes them (the API, the command line, a DBA in psql), and revoke the user's
long-lived API tokens in the same transaction: those are looked up on every use, by their
`revoked_at`.

Access tokens issued before this revision carry no version and are refused from now on:
everyone logs in again once after the upgrade (tokens live an hour by default).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        """
        CREATE FUNCTION end_user_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.password_hash IS DISTINCT FROM OLD.password_hash
               OR (OLD.active AND NOT NEW.active) THEN
                NEW.token_version := GREATEST(NEW.token_version, OLD.token_version + 1);
                UPDATE api_tokens SET revoked_at = now()
                WHERE user_id = NEW.id AND revoked_at IS NULL;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER end_user_sessions BEFORE UPDATE OF password_hash, active ON users"
        " FOR EACH ROW EXECUTE FUNCTION end_user_sessions()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER end_user_sessions ON users")
    op.execute("DROP FUNCTION end_user_sessions()")
    op.drop_column("users", "token_version")
