from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from webhooks.api import errors, views

# Brevo's paths have no trailing slash; so do ours.
urlpatterns = [
    path("webhooks", views.webhooks, name="webhooks"),
    path("webhooks/export", views.export_history, name="export"),
    path("webhooks/<int:webhookId>", views.webhook, name="webhook"),
    path("webhooks/<int:webhookId>/secret", views.webhook_secret, name="secret"),
    path("webhooks/<int:webhookId>/secret/rotate", views.rotate_secret, name="rotate_secret"),
    path("webhooks/<int:webhookId>/test", views.send_test, name="test"),
    path("webhooks/<int:webhookId>/deliveries", views.deliveries, name="deliveries"),
    path("webhooks/<int:webhookId>/deliveries/retry", views.retry_failed, name="retry_failed"),
    path("webhooks/<int:webhookId>/deliveries/<int:deliveryId>/retry", views.retry_delivery, name="retry_delivery"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    # The split view serves its start-up script as a file: the Content-Security-Policy allows no inline script.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="api:openapi"), name="docs"),
    # Any other path, newlines included (an empty pattern matches them all).
    re_path(r"", errors.not_found),
]
