from django.urls import path

from automations.api import views

# Under /v3, beside Brevo's paths, without a trailing slash like them.
urlpatterns = [
    path("automations", views.automations, name="automations"),
    path("automations/<int:automationId>", views.automation, name="automation"),
    path("automations/<int:automationId>/runs", views.runs, name="runs"),
]
