"""Why a webhook was disabled, told to a person: what happened, and what to do about it.

The webhook keeps the reason as an English sentence with its time in UTC, for operators (the
admin, the logs). Pages and emails show `explain()` instead: in the reader's language, the time
in the account's zone, and the next step, from the same sentence read back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from brevo_hooks.durations import duration
from brevo_hooks.middleware import time_zone_of

BY_USER = gettext_noop("Disabled by a user.")
STORED_TIME = "%Y-%m-%d %H:%M"
GONE = re.compile(r"^Your app answered 410 Gone on (?P<time>\d{4}-\d\d-\d\d \d\d:\d\d) UTC")
LONG_FAILING = re.compile(
    r"^Every delivery failed for (?P<count>[\d.]+) (?P<unit>days|seconds) "
    r"\(since (?P<time>\d{4}-\d\d-\d\d \d\d:\d\d) UTC\)"
)


def gone_reason(now: datetime) -> str:
    """The stored reason of a webhook whose app answered 410 Gone at `now`."""
    return f"Your app answered 410 Gone on {now.astimezone(UTC):{STORED_TIME}} UTC, so deliveries stopped."


def long_failing_reason(failing_since: datetime, window: float) -> str:
    """The stored reason of a webhook whose every delivery failed for `window` seconds."""
    days = window / 86400
    span = f"{days:g} days" if days >= 1 else f"{window:g} seconds"
    return (
        f"Every delivery failed for {span} (since {failing_since.astimezone(UTC):{STORED_TIME}} UTC), "
        "so deliveries stopped. Check your app, then enable the webhook again."
    )


@dataclass(frozen=True)
class Explanation:
    """What happened, and what the reader can do about it, each one sentence or two."""

    what: str
    todo: str


def explain(reason: str, time_zone: str | None = None) -> Explanation:
    """The stored `reason` for a person, in the active language, times in `time_zone` (default: the active one)."""
    zone = zone_of(time_zone)
    if gone := GONE.match(reason):
        return Explanation(
            _(
                "On %(time)s your app answered 410 Gone, which says that this URL no longer takes events, "
                "so we stopped sending them."
            )
            % {"time": local(gone["time"], zone)},
            _("If that was a mistake, check the URL (Actions > Edit), then choose Actions > Enable."),
        )
    if failing := LONG_FAILING.match(reason):
        seconds = float(failing["count"]) * (86400 if failing["unit"] == "days" else 1)
        return Explanation(
            _("Every delivery failed for %(span)s, since %(time)s, so we stopped sending to it.")
            % {"span": duration(int(seconds)), "time": local(failing["time"], zone)},
            _(
                "Check that your app answers at this URL (Actions > Send a test), then choose Actions > Enable; "
                "“Retry all failed since…” on its Deliveries page then sends what it missed."
            ),
        )
    if reason == BY_USER:
        return Explanation(
            _("Someone in your account disabled it, so nothing is sent to it."),
            _("To send its events again, choose Actions > Enable."),
        )
    # A reason an operator typed in the admin: shown as it is.
    return Explanation(_(reason) if reason else "", _("To send its events again, choose Actions > Enable."))


def zone_of(name: str | None) -> tzinfo:
    """The zone called `name` (UTC if it is none), or the active one (the page's account's) for None."""
    return timezone.get_current_timezone() if name is None else time_zone_of(name)


def local(stored: str, zone: tzinfo) -> str:
    """A stored UTC time as the reader reads times: "Jan 31, 10:02 CET"."""
    moment = datetime.strptime(stored, STORED_TIME).replace(tzinfo=UTC)
    return date_format(moment.astimezone(zone), "SHORT_DATETIME_FORMAT")
