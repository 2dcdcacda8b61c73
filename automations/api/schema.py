"""The OpenAPI description of /v3/automations, as strict as its validation.

drf-spectacular describes each serializer field; what it cannot say alone is said here, by a
postprocessing hook that runs after `webhooks.api.schema.postprocess`:
- a field the API does not know is refused (`StrictSerializer`): `additionalProperties: false`;
- a trigger's event is one of its type's, and its condition one that fits the event
  (`automations.triggers`): one variant per type and set of conditions;
- an active automation has at least one step.
Rules that depend on the automation as it is (the `id` of a kept step; an update that leaves
an active automation without steps) are answered with a 409, and the operations say so.
"""

from __future__ import annotations

import copy
from typing import Any

import catalog
from automations import triggers
from automations.models import Automation

C = Automation.Condition
# The largest id a 64-bit column holds: a list's id, a step's.
MAX_ID = 2**63 - 1
# What str.strip() removes (the characters for which str.isspace() is true), as a regex class:
# a condition's text is stripped, so it must hold at least one other character. Listed rather
# than written `\S`, whose meaning differs between Python, ECMA and Rust regexes.
WHITESPACE = "\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITESPACE}]"
# The request objects of /v3/automations, whose serializers refuse unknown fields.
STRICT_COMPONENTS = (
    "AutomationCreateRequest",
    "AutomationUpdateRequest",
    "WaitStepRequest",
    "WebhookStepRequest",
    "KeptWaitStepRequest",
    "KeptWebhookStepRequest",
    "StepAuthRequest",
    "StepHeaderRequest",
)


def text(max_length: int, description: str, not_blank: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length, "description": description}
    if not_blank:
        schema.update(minLength=1, pattern=NOT_BLANK)
    return schema


def condition(description: str, **properties: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
    }
    if properties:
        schema["required"] = list(properties)
    return schema


CONDITION_SCHEMAS = {
    "NoCondition": condition("No condition: every such event starts a run (as null does)."),
    "ListIdCondition": condition(
        '"Added to a list" (and marketing "Unsubscribed"): the list',
        listId={"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    ),
    "LinkContainsCondition": condition(
        '"Clicked": the link contains this text (case does not matter)',
        linkContains=text(triggers.CONDITION_VALUE_MAX, "Text the link contains"),
    ),
    "TagCondition": condition(
        "Email events: the email has this tag", tag=text(triggers.CONDITION_VALUE_MAX, "A tag of the email")
    ),
    "AttributeCondition": condition(
        '"Updated": the event sets this attribute to this value',
        attribute=text(triggers.ATTRIBUTE_NAME_MAX, "An attribute, such as PLAN"),
        value=text(triggers.CONDITION_VALUE_MAX, "Its new value, as text (true, false, 42)", not_blank=False),
    ),
}
COMPONENT_OF = {
    C.LIST_ID: "ListIdCondition",
    C.LINK_CONTAINS: "LinkContainsCondition",
    C.TAG: "TagCondition",
    C.ATTRIBUTE: "AttributeCondition",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# An automation's `conditions` as GET answers it (the components are added by `postprocess`).
CONDITIONS_OUT = {
    "oneOf": [ref(name) for name in CONDITION_SCHEMAS],
    "description": "{} (no condition) or one condition, as written",
}


def trigger_groups() -> dict[tuple[str, tuple[str, ...]], list[str]]:
    """The names of the events that may start an automation, by type and by the conditions that fit them."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for type in catalog.TYPE_LABELS:
        for event in triggers.trigger_events(type):
            key = (type, tuple(triggers.conditions_for(event)))
            groups.setdefault(key, []).extend([event.subscription, *event.aliases])
    return groups


def trigger_variants(component: dict[str, Any]) -> list[dict[str, Any]]:
    """`component` (the trigger) once per type and set of conditions, with the events they fit."""
    variants = []
    for (type, conditions), names in trigger_groups().items():
        variant = copy.deepcopy(component)
        variant.pop("description", None)  # the oneOf has it
        properties = variant["properties"]
        properties["event"] = {"type": "string", "enum": names, "description": properties["event"].get("description")}
        properties["type"] = {"type": "string", "enum": [type]}
        if type == catalog.TRANSACTIONAL:
            properties["type"]["default"] = type  # only a marketing trigger must say its type
        properties["conditions"] = {
            "oneOf": [ref("NoCondition"), *(ref(COMPONENT_OF[name]) for name in conditions)],
            "nullable": True,
            "description": properties["conditions"].get("description"),
        }
        variant["required"] = ["event"] if type == catalog.TRANSACTIONAL else ["event", "type"]
        variant["additionalProperties"] = False
        variants.append(variant)
    return variants


def needs_a_step_when_active(create: bool) -> list[dict[str, Any]]:
    """An `anyOf`: not active, or (some) steps. A create without `steps` has none."""
    others = [status for status in Automation.Status.values if status != Automation.Status.ACTIVE]
    inactive = {"properties": {"status": {"enum": others}}}
    some_steps: dict[str, Any] = {"properties": {"steps": {"minItems": 1}}}
    if create:
        some_steps["required"] = ["steps"]
    return [inactive, some_steps]


def postprocess(result: dict[str, Any], generator: object, request: object, public: bool) -> dict[str, Any]:
    """drf-spectacular's postprocessing hook for /v3/automations (see the module's docstring)."""
    schemas = result.get("components", {}).get("schemas", {})
    if "TriggerRequest" not in schemas:
        return result
    schemas.update(CONDITION_SCHEMAS)
    schemas.pop("ConditionsRequest", None)  # replaced by the conditions of each variant
    schemas["TriggerRequest"] = {
        "oneOf": trigger_variants(schemas["TriggerRequest"]),
        "description": "An event of the type that may start an automation, with a condition that fits it, if any.",
    }
    for name in STRICT_COMPONENTS:
        schemas[name]["additionalProperties"] = False
    # A header value may be empty, as for /v3/webhooks (DRF's non-blank default says otherwise).
    schemas["StepHeaderRequest"]["properties"]["value"].pop("minLength", None)
    for name, create in (("AutomationCreateRequest", True), ("AutomationUpdateRequest", False)):
        schemas[name]["anyOf"] = needs_a_step_when_active(create)
        description = schemas[name].get("description", "")
        schemas[name]["description"] = f"{description} An active automation has at least one step.".strip()
    return result
