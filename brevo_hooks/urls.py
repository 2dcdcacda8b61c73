from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from events.api import ingest

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="webhooks:list", permanent=False)),
    path("", include("accounts.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("events/", include("events.urls")),
    path("api/events", ingest, name="api_events"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
