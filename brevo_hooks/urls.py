from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from events.api import ingest
from webhooks import views as webhook_views
from webhooks.api import views as api_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="webhooks:list", permanent=False)),
    path("", include("accounts.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("automations/", include("automations.urls")),
    path("egress-ips.json", webhook_views.egress_ips, name="egress_ips"),
    path("exports/<str:token>.csv", api_views.export_download, name="export_download"),
    # Before the webhooks API, whose last pattern answers every other /v3 path with a 404.
    path("v3/", include(("automations.api.urls", "automations_api"))),
    path("v3/", include(("webhooks.api.urls", "api"))),
    path("events/", include("events.urls")),
    path("api/events", ingest, name="api_events"),
    path("admin/", admin.site.urls),
]
