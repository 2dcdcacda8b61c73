"""The "Simulate an event" form of the Events page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import catalog
from brevo_hooks import strict_json
from catalog import payloads
from events.fanout import NewEvent


def event_choices() -> list[Any]:
    return [
        (label, [(f"{type}:{event.subscription}", event.label) for event in catalog.for_type(type)])
        for type, label in catalog.TYPE_LABELS.items()
    ]


class SimulateForm(forms.Form):
    event = forms.ChoiceField(label=gettext_lazy("Event"), choices=event_choices)
    email = forms.EmailField(
        label=gettext_lazy("Contact email"),
        initial="jane.doe@example.com",
        error_messages={"invalid": gettext_lazy("Enter an email address, such as jane.doe@example.com.")},
    )
    data = forms.CharField(
        label=gettext_lazy("More payload fields"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": gettext_lazy('{"subject": "Your order has shipped"}')}),
        help_text=gettext_lazy('A JSON object merged over the sample values, e.g. {"reason": "550 no such user"}.'),
    )

    def clean_data(self) -> dict[str, Any]:
        raw = self.cleaned_data["data"].strip()
        if not raw:
            return {}
        # The same rules as the APIs: what parses but cannot be stored is named, not a 500.
        try:
            value = strict_json.loads(raw)
        except strict_json.NotJSON as exc:
            raise forms.ValidationError(_("This is not valid JSON: %(error)s.") % {"error": exc}) from None
        except strict_json.Unstorable as exc:
            raise forms.ValidationError(str(exc)) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Enter a JSON object, such as {"subject": "Hello"}.'))
        return value

    def new_event(self) -> NewEvent:
        type, name = self.cleaned_data["event"].split(":", 1)
        event = catalog.get(type, name)
        assert event is not None  # the choices come from the catalog
        sample = payloads.sample_data(type, event.payload_name)
        data = {**sample, "email": self.cleaned_data["email"], **self.cleaned_data["data"]}
        return NewEvent(name=name, type=type, data=data)
