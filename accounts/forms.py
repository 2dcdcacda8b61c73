from __future__ import annotations

from django import forms


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        error_messages={"required": "Give the key a name, such as the app that will use it."},
        widget=forms.TextInput(attrs={"placeholder": "e.g. CRM integration", "autocomplete": "off"}),
    )
