"""Signals of the webhooks app, for apps above it that must not be imported from here."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once by each long-running worker (webhooks.worker.DeliveryWorker, not in burst mode)
# as it starts, so that other apps can run their own background threads beside the
# sweeper: automations advances its due runs this way.
worker_started = Signal()
