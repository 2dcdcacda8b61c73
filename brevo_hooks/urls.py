from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from brevo_hooks import ops_views
from events.api import ingest
from webhooks import views as webhook_views
from webhooks.api import errors as api_errors
from webhooks.api import views as api_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="webhooks:list", permanent=False)),
    path("", include("accounts.urls")),
    # Browsers and tools ask for /favicon.ico whatever the page says; answer instead of logging a 404.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
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
    # For load balancers and Prometheus; outside /v3, which is Brevo's API.
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.prometheus, name="metrics"),
    # Anything else under the APIs is a JSON 404, whatever the method (/v3/... has its own).
    re_path(r"^(?:v3|api)(?:/|\Z)", api_errors.not_found),
]

handler400 = "brevo_hooks.error_views.bad_request"
handler403 = "brevo_hooks.error_views.permission_denied"
handler404 = "brevo_hooks.error_views.page_not_found"
handler500 = "brevo_hooks.error_views.server_error"
