"""Template filters for times and figures that read well in both languages, and fields tied to their words."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.forms import BoundField
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString

register = template.Library()


# No-break space: a line may break between the date and the time, never inside either.
NBSP = "\u00a0"


@register.filter
def when(value: datetime | None) -> str:
    """A time of today as "10:02 CET", an older one with its date ("Jan 30, 10:02 CET"), in the page's zone.

    The time keeps its zone on its line, and the day its month: "13:57" above "CET" in a narrow
    column of the delivery log read as two things.
    """
    if value is None:
        return ""
    local = timezone.localtime(value)
    today = local.date() == timezone.localtime().date()
    shown = date_format(local, "TIME_FORMAT" if today else "SHORT_DATETIME_FORMAT")
    return ", ".join(part.replace(" ", NBSP) for part in shown.split(", "))


@register.filter
def full_time(value: datetime | None) -> str:
    """The exact time with seconds and zone, for title attributes and detail pages."""
    if value is None:
        return ""
    return date_format(timezone.localtime(value), "DATETIME_FORMAT")


@register.filter
def is_past(value: datetime | None) -> bool:
    """Whether `value` has come (a retry that is due any moment now)."""
    return value is not None and value <= timezone.now()


@register.filter
def described(field: BoundField, help: str = "") -> SafeString:
    """The field's input, pointing to its help and its errors, and marked invalid when it has errors.

    A screen reader then reads "Enter a valid URL" with the field, not somewhere below it. The
    ids are those of webhooks/_field.html: `<id>_helptext` (Django's own) and `<id>_error`.
    """
    ids = []
    if help or field.help_text:
        ids.append(f"{field.auto_id}_helptext")
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    # Django adds aria-invalid="true" to a field with errors; it keeps the aria-describedby given.
    return field.as_widget(attrs={"aria-describedby": " ".join(ids)} if ids else None)
