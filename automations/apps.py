from __future__ import annotations

from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from automations.runner import start_poller
        from webhooks.signals import worker_started

        # Each long-running worker advances due runs from a thread of its own.
        worker_started.connect(start_poller, dispatch_uid="automations-poller")
