"""The automation editor's forms: the automation (name, trigger, condition) and one form per step."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import catalog
from automations import triggers
from automations.models import Automation, Step
from automations.steps import MAX_WAIT_SECONDS, StepSpec
from webhooks import validators
from webhooks.forms import HttpURLField, parse_header_lines
from webhooks.models import mask_url, unmask_url
from webhooks.validators import URL_ERROR

C = Automation.Condition
# The condition fields of the form, by the condition each stands for.
CONDITION_FIELDS = {"list_id": C.LIST_ID, "link_contains": C.LINK_CONTAINS, "tag": C.TAG, "attribute": C.ATTRIBUTE}
GROUPS = [
    (gettext_lazy("Transactional emails"), catalog.TRANSACTIONAL, None),
    (gettext_lazy("Marketing emails"), catalog.MARKETING, catalog.EMAIL_GROUP),
    (gettext_lazy("Contacts"), catalog.MARKETING, catalog.CONTACT_GROUP),
]


def trigger_value(event: catalog.EventType) -> str:
    return f"{event.type}:{event.subscription}"


def trigger_choices() -> list[Any]:
    return [("", _("Choose the event that starts the automation"))] + [
        (
            heading,
            [
                (trigger_value(event), _(event.label))
                for event in triggers.trigger_events(type)
                if group is None or event.group == group
            ],
        )
        for heading, type, group in GROUPS
    ]


def events_fitting(condition: str) -> str:
    """The trigger values a condition fits, space-separated: the editor's script shows it for those only."""
    return " ".join(
        trigger_value(event)
        for type in catalog.TYPE_LABELS
        for event in triggers.trigger_events(type)
        if condition in triggers.conditions_for(event)
    )


class AutomationForm(forms.ModelForm):
    trigger = forms.ChoiceField(
        label=gettext_lazy("Event"),
        error_messages={"required": gettext_lazy("Choose the event that starts the automation.")},
    )
    list_id = forms.CharField(
        label=gettext_lazy("Added to the list (id)"),
        required=False,
        max_length=19,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "7"}),
    )
    link_contains = forms.CharField(
        label=gettext_lazy("The link contains"), required=False, max_length=triggers.CONDITION_VALUE_MAX
    )
    tag = forms.CharField(label=gettext_lazy("Tag"), required=False, max_length=triggers.CONDITION_VALUE_MAX)
    attribute = forms.CharField(
        label=gettext_lazy("Attribute"),
        required=False,
        max_length=triggers.ATTRIBUTE_NAME_MAX,
        widget=forms.TextInput(attrs={"placeholder": "PLAN"}),
    )
    attribute_value = forms.CharField(
        label=gettext_lazy("is equal to"), required=False, max_length=triggers.CONDITION_VALUE_MAX
    )

    class Meta:
        model = Automation
        fields = ["name", "reentry"]
        widgets = {"name": forms.TextInput(attrs={"placeholder": gettext_lazy("e.g. Welcome new subscribers")})}
        error_messages = {"name": {"required": gettext_lazy("Give the automation a name.")}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["trigger"].choices = trigger_choices()
        automation = self.instance
        if automation.trigger_event:
            self.initial.setdefault("trigger", f"{automation.trigger_type}:{automation.trigger_event}")
            field = {condition: name for name, condition in CONDITION_FIELDS.items()}.get(automation.condition)
            if field:
                self.initial.setdefault(field, automation.condition_attribute or automation.condition_value)
                if field == "attribute":
                    self.initial.setdefault("attribute_value", automation.condition_value)

    def condition_fields(self) -> list[tuple[Any, str]]:
        """Each condition's fields with the triggers they fit, for the template."""
        return [
            (self[name], events_fitting(condition), self["attribute_value"] if name == "attribute" else None)
            for name, condition in CONDITION_FIELDS.items()
        ]

    def clean_trigger(self) -> catalog.EventType:
        type, _colon, name = self.cleaned_data["trigger"].partition(":")
        event = catalog.get(type, name)
        if event is None or not triggers.can_trigger(event):
            raise ValidationError(_("Choose the event that starts the automation."))
        return event

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        event = cleaned.get("trigger")
        if not isinstance(event, catalog.EventType):
            return cleaned
        chosen = [name for name in CONDITION_FIELDS if (cleaned.get(name) or "").strip()]
        if (cleaned.get("attribute_value") or "").strip() and "attribute" not in chosen:
            chosen.append("attribute")
        if len(chosen) > 1:
            self.add_error(chosen[1], _("Choose one condition: clear the others."))
            return cleaned
        condition, attribute, value = "", "", ""
        if chosen:
            field = chosen[0]
            condition = CONDITION_FIELDS[field]
            value = (cleaned.get("attribute_value" if field == "attribute" else field) or "").strip()
            attribute = (cleaned.get("attribute") or "").strip() if field == "attribute" else ""
        problem = triggers.check(event, condition, attribute, value)
        if problem:
            self.add_error(chosen[0], problem[1])
            return cleaned
        automation = self.instance
        automation.trigger_type, automation.trigger_event = event.type, event.subscription
        automation.condition, automation.condition_attribute, automation.condition_value = condition, attribute, value
        return cleaned


# A Wait in the editor: an amount of minutes, hours or days (seconds only for what the API made).
UNIT_CHOICES = [("60", gettext_lazy("minutes")), ("3600", gettext_lazy("hours")), ("86400", gettext_lazy("days"))]
SECONDS = ("1", gettext_lazy("seconds"))
# A posted step id that is not (or no longer) one of the automation's steps.
STEP_GONE = gettext_lazy("This step is no longer part of the automation: reload the page.")
# A kind that is not Wait or Call a webhook: only a tampered hidden field sends one.
NO_KIND = gettext_lazy("This step has no kind: remove it and add a new one.")


def wait_initial(seconds: int) -> dict[str, str]:
    for unit in ("86400", "3600", "60", "1"):
        if seconds and seconds % int(unit) == 0:
            return {"wait_amount": str(seconds // int(unit)), "wait_unit": unit}
    return {"wait_amount": "", "wait_unit": "60"}


def step_initial(step: Step) -> dict[str, Any]:
    """What the editor shows of a saved step."""
    initial: dict[str, Any] = {"id": step.pk, "kind": step.kind}
    if step.kind == Step.Kind.WAIT:
        return {**initial, **wait_initial(step.wait_seconds or 0)}
    webhook = step.webhook
    return {
        **initial,
        "url": mask_url(webhook.url) if webhook else "",
        "include_contact": step.include_contact,
        "include_event": step.include_event,
        "custom_headers": "\n".join(f"{h['key']}: {h['value']}" for h in (webhook.headers if webhook else [])),
    }


class StepForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1, max_value=2**63 - 1)
    kind = forms.ChoiceField(
        choices=Step.Kind.choices,
        widget=forms.HiddenInput,
        error_messages={"required": NO_KIND, "invalid_choice": NO_KIND},
    )
    wait_amount = forms.IntegerField(
        label=gettext_lazy("Wait"),
        required=False,
        min_value=1,
        max_value=MAX_WAIT_SECONDS,
        error_messages={"required": gettext_lazy("Enter how long to wait.")},
    )
    wait_unit = forms.ChoiceField(label=gettext_lazy("Unit"), required=False, choices=UNIT_CHOICES)
    url = HttpURLField(
        label=gettext_lazy("URL"),
        required=False,
        max_length=validators.URL_MAX_LENGTH,
        assume_scheme="https",
        error_messages={
            "invalid": URL_ERROR,
            "required": gettext_lazy("Enter the URL of your app that receives the call."),
        },
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/automation", "autocomplete": "off"}),
    )
    include_contact = forms.BooleanField(
        label=gettext_lazy("Include details of the contact who triggered the event"), required=False
    )
    include_event = forms.BooleanField(label=gettext_lazy("Include details of the trigger event"), required=False)
    # The token the user just typed is shown back after "Add a step"; a saved one never is.
    auth_token = forms.CharField(
        label=gettext_lazy("Bearer token"),
        required=False,
        max_length=validators.TOKEN_MAX,
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
    )
    remove_auth_token = forms.BooleanField(label=gettext_lazy("Remove the bearer token"), required=False)
    custom_headers = forms.CharField(
        label=gettext_lazy("Custom headers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "X-Api-Key: 1234", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, step: Step | None = None, **kwargs: Any) -> None:
        if step is not None:
            kwargs["initial"] = {**step_initial(step), **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.step = step
        # Which fields a step needs depends on its kind.
        needed = {Step.Kind.WAIT: ["wait_amount", "wait_unit"], Step.Kind.WEBHOOK: ["url"]}.get(self.kind_value, [])
        for name in needed:
            self.fields[name].required = True
        unit = self.data.get(self.add_prefix("wait_unit")) if self.is_bound else self.initial.get("wait_unit")
        if unit == SECONDS[0]:
            self.fields["wait_unit"].choices = [*UNIT_CHOICES, SECONDS]

    @property
    def kind_value(self) -> str:
        return (self.data.get(self.add_prefix("kind")) if self.is_bound else self.initial.get("kind")) or ""

    @property
    def kind_label(self) -> str:
        return Step.Kind(self.kind_value).label if self.kind_value in Step.Kind.values else ""

    @property
    def has_token(self) -> bool:
        return bool(self.step and self.step.webhook and self.step.webhook.auth_token)

    def clean_id(self) -> int | None:
        pk = self.cleaned_data["id"]
        if pk is not None and (self.step is None or self.step.pk != pk):
            raise ValidationError(STEP_GONE)
        return pk

    def step_gone(self) -> None:
        """Say next to this form that its step went after the form was checked (removed by another request)."""
        self.add_error("id", STEP_GONE)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if self.step is not None and kind and kind != self.step.kind:
            raise ValidationError(_("A step keeps its kind: remove it and add a new one."))
        if kind == Step.Kind.WAIT:
            self.clean_wait(cleaned)
        elif kind == Step.Kind.WEBHOOK:
            self.clean_call(cleaned)
        return cleaned

    def clean_wait(self, cleaned: dict[str, Any]) -> None:
        amount, unit = cleaned.get("wait_amount"), cleaned.get("wait_unit") or "60"
        if amount is None:
            return  # the field says why
        if amount * int(unit) > MAX_WAIT_SECONDS:
            self.add_error("wait_amount", _("A Wait lasts at most 366 days."))
            return
        cleaned["seconds"] = amount * int(unit)

    def clean_call(self, cleaned: dict[str, Any]) -> None:
        url = cleaned.get("url") or ""
        if url:
            old = self.step.webhook.url if self.step and self.step.webhook else ""
            try:
                cleaned["url"] = validators.validate_url(unmask_url(url, old))
            except ValidationError as exc:
                self.add_error("url", exc)
        token = cleaned.get("auth_token") or ""
        try:
            cleaned["auth_token"] = validators.validate_token(token) if token else ""
        except ValidationError as exc:
            self.add_error("auth_token", exc)
        try:
            cleaned["headers"] = parse_header_lines(cleaned.get("custom_headers") or "")
        except ValidationError as exc:
            self.add_error("custom_headers", exc)

    def spec(self) -> StepSpec:
        """The step as automations.steps.save takes it (after is_valid)."""
        data = self.cleaned_data
        if data["kind"] == Step.Kind.WAIT:
            return StepSpec(kind=Step.Kind.WAIT, id=data["id"], seconds=data["seconds"])
        token: str | None = data["auth_token"] or ("" if data["remove_auth_token"] or self.step is None else None)
        return StepSpec(
            kind=Step.Kind.WEBHOOK,
            id=data["id"],
            url=data["url"],
            include_contact=data["include_contact"],
            include_event=data["include_event"],
            auth_token=token,
            headers=data["headers"],
        )
