"""Access tokens as values: what a token says, and until when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.core.identity.security import issue_access_token, read_access_token


def test_a_token_read_again_still_expires_on_time() -> None:
    # Verdicts on tokens are remembered; expiry must still be checked on every read.
    secret = "a-secret-key-long-enough-for-hs256-signatures"
    issued = datetime.now(UTC)
    token = issue_access_token(7, 3, secret, issued, 60)
    assert read_access_token(token, secret, issued + timedelta(minutes=59)) == (7, 3)
    assert read_access_token(token, secret, issued + timedelta(minutes=61)) is None
    assert read_access_token(token, secret, issued + timedelta(minutes=30)) == (7, 3)
    assert read_access_token(token, "another-key-long-enough-for-hs256-signatures") is None
