"""A number of seconds as people say it, in the active language."""

from __future__ import annotations

from django.utils.translation import ngettext

# Units a duration is said in, largest first.
UNITS = [(86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")]


def duration(seconds: int) -> str:
    """`seconds` in the largest unit that divides it: "2 days", "90 minutes", "1 second"."""
    size, unit = next(((size, unit) for size, unit in UNITS if seconds % size == 0 and seconds), (1, "second"))
    count = seconds // size
    if unit == "day":
        text = ngettext("%(count)d day", "%(count)d days", count)
    elif unit == "hour":
        text = ngettext("%(count)d hour", "%(count)d hours", count)
    elif unit == "minute":
        text = ngettext("%(count)d minute", "%(count)d minutes", count)
    else:
        text = ngettext("%(count)d second", "%(count)d seconds", count)
    return text % {"count": count}
