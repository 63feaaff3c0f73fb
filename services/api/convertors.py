"""Path convertors. `/findings/{finding_id:not_action}` matches none of `/findings/batch`,
`/findings/bulk` and `/findings/events` (the audit export), so a GET to the first two is
answered 405 (they take only POST) instead of a 422 about a malformed finding id; any other
malformed id still gets the 422 naming `finding_id`."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

# The fixed names that sit beside an id in a collection's path.
ACTIONS = ("batch", "bulk", "events")


class NotAction(Convertor[str]):
    regex = "(?!(?:" + "|".join(ACTIONS) + ")$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("not_action", NotAction())
