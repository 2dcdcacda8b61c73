"""The "Add a new webhook" form, the "Send a test" form and the "Retry all failed since" field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

import catalog
from webhooks import validators
from webhooks.models import Webhook, mask_url, unmask_url
from webhooks.validators import URL_ERROR


def event_choices(type: str) -> list[Any]:
    events = catalog.for_type(type)
    if type == catalog.TRANSACTIONAL:
        return [(event.subscription, event.label) for event in events]
    return [
        (heading, [(event.subscription, event.label) for event in events if event.group == group])
        for group, heading in catalog.GROUP_HEADINGS.items()
    ]


class HttpURLField(forms.URLField):
    # Only http and https: a webhook is a POST to a web app.
    default_validators = [URLValidator(schemes=["http", "https"], message=URL_ERROR)]


def parse_header_lines(text: str) -> list[dict[str, str]]:
    """Custom headers typed as "Name: value" lines, checked by the rules of every webhook's headers.

    Lines end where the browser's text box ends them (CR LF, LF or CR), not at the other
    breaks `str.splitlines` knows (U+2028, NEL...): one of those typed inside a value is an
    invisible character in one header, which the rules refuse, not the start of a new line.
    """
    headers = []
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValidationError(_("Line %(number)s: write each header as Name: value.") % {"number": number})
        headers.append({"key": name.strip(" \t"), "value": value})
    return validators.validate_headers(headers)


class WebhookForm(forms.ModelForm):
    url = HttpURLField(
        label=_("URL"),
        max_length=2048,
        assume_scheme="https",
        error_messages={"invalid": URL_ERROR, "required": _("Enter the URL of your app that receives the events.")},
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/brevo", "autocomplete": "off"}),
    )
    type = forms.ChoiceField(
        label=_("Type"),
        # Brevo's form names each type by what it covers (elsewhere a short label will do).
        choices=[
            (catalog.TRANSACTIONAL, _("Transactional events")),
            (catalog.MARKETING, _("Marketing events (marketing emails and contacts)")),
        ],
        widget=forms.RadioSelect,
        initial="transactional",
    )
    transactional_events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=event_choices(catalog.TRANSACTIONAL),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    marketing_events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=event_choices(catalog.MARKETING),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    auth_token = forms.CharField(
        label=_("Bearer token"),
        required=False,
        strip=True,
        max_length=validators.TOKEN_MAX,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    remove_auth_token = forms.BooleanField(label=_("Remove the bearer token"), required=False)
    custom_headers = forms.CharField(
        label=_("Custom headers"),
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "X-Api-Key: 1234\nX-Tenant: acme", "spellcheck": "false"}
        ),
    )

    class Meta:
        model = Webhook
        fields = ["type", "url", "description", "batched"]
        labels = {"url": _("URL"), "description": _("Description"), "batched": _("Batched")}

        widgets = {"description": forms.TextInput(attrs={"placeholder": _("e.g. Order notifications for our CRM")})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        window = settings.WEBHOOKS_BATCH_WINDOW
        if window >= 60 and window % 60 == 0:
            minutes = int(window // 60)
            help_text = ngettext(
                "Send the events of each %(count)s-minute window together, as one JSON array of up to 500 events.",
                "Send the events of each %(count)s-minute window together, as one JSON array of up to 500 events.",
                minutes,
            ) % {"count": minutes}
        else:
            help_text = _(
                "Send the events of each %(count)s-second window together, as one JSON array of up to 500 events."
            ) % {"count": f"{window:g}"}
        self.fields["batched"].help_text = help_text
        if not self.instance._state.adding:
            # As in Brevo's API, a webhook keeps its type; make a new one to change it.
            self.fields["type"].disabled = True
            self.initial[f"{self.instance.type}_events"] = self.instance.event_names()
            # A password in the URL is never shown back; sending the mask back keeps it.
            self.initial["url"] = mask_url(self.instance.url)
            self.initial["custom_headers"] = "\n".join(f"{h['key']}: {h['value']}" for h in self.instance.headers)
        if not self.instance.auth_token:
            del self.fields["remove_auth_token"]

    def clean_url(self) -> str:
        url = unmask_url(self.cleaned_data["url"], "" if self.instance._state.adding else self.instance.url)
        return validators.validate_url(url)

    def clean_auth_token(self) -> str:
        token = self.cleaned_data["auth_token"]
        return validators.validate_token(token) if token else ""

    def clean_custom_headers(self) -> list[dict[str, str]]:
        return parse_header_lines(self.cleaned_data["custom_headers"])

    def event_groups(self, type: str) -> list[tuple[str, list[Any]]]:
        """The checkboxes of `type`'s events under their headings ("" for none)."""
        boxes = {box.data["value"]: box for box in self[f"{type}_events"]}
        choices = self.fields[f"{type}_events"].choices
        if type == catalog.TRANSACTIONAL:
            return [("", list(boxes.values()))]
        return [(heading, [boxes[value] for value, _ in group]) for heading, group in choices]

    def transactional_groups(self) -> list[tuple[str, list[Any]]]:
        return self.event_groups(catalog.TRANSACTIONAL)

    def marketing_groups(self) -> list[tuple[str, list[Any]]]:
        return self.event_groups(catalog.MARKETING)

    def events_field(self) -> str:
        return f"{self.cleaned_data.get('type') or self.instance.type}_events"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        field = self.events_field()
        if field in self.fields and field not in self._errors:
            self.instance.type = cleaned.get("type") or self.instance.type
            try:
                cleaned["events"] = self.instance.validate_events(cleaned.get(field) or [])
            except ValidationError as exc:
                self.add_error(field, exc)
        return cleaned

    def save(self, commit: bool = True) -> Webhook:
        assert commit, "the subscriptions are saved with the webhook"
        self.instance.headers = self.cleaned_data["custom_headers"]
        if self.cleaned_data.get("auth_token"):
            self.instance.auth_token = self.cleaned_data["auth_token"]
        elif self.cleaned_data.get("remove_auth_token"):
            self.instance.auth_token = ""
        webhook = super().save()
        webhook.set_events(self.cleaned_data["events"])
        return webhook


class SendTestForm(forms.Form):
    event = forms.ChoiceField(label=_("Event"), error_messages={"required": _("Choose the event to send.")})

    def __init__(self, webhook: Webhook, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        events = webhook.event_types()
        self.fields["event"].choices = [(event.subscription, event.label) for event in events]
        if events:
            self.fields["event"].initial = events[0].subscription
            if self.is_bound and not self.data.get("event"):
                # No choice means the default the menu shows: the webhook's first event.
                self.data = self.data.copy()
                self.data["event"] = events[0].subscription
        self.webhook = webhook

    def event_type(self) -> catalog.EventType:
        event = catalog.get(self.webhook.type, self.cleaned_data["event"])
        assert event is not None  # the choices are the webhook's own events
        return event


class RetrySinceForm(forms.Form):
    """ "Retry all failed since…": a date and time typed the same way in every browser and language."""

    since = forms.DateTimeField(
        label=_("Retry all failed since"),
        localize=True,
        # One format that every language's input formats accept, whatever the browser's locale.
        widget=forms.DateTimeInput(
            format="%Y-%m-%d %H:%M",
            attrs={"placeholder": "2026-01-31 09:30", "spellcheck": "false", "autocomplete": "off"},
        ),
        error_messages={
            "required": _("Choose the date and time from which to retry failed deliveries."),
            "invalid": _("Enter the date and time as YYYY-MM-DD HH:MM, such as 2026-01-31 09:30."),
        },
    )
