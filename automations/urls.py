from django.urls import path

from automations import views

app_name = "automations"
urlpatterns = [
    path("", views.automation_list, name="list"),
    path("new/", views.automation_edit, name="add"),
    path("<int:pk>/", views.automation_edit, name="edit"),
    path("<int:pk>/delete/", views.automation_delete, name="delete"),
    path("<int:pk>/runs/", views.run_history, name="runs"),
    path("<int:pk>/steps/<int:step_pk>/test/", views.step_test, name="step_test"),
    path("<int:pk>/steps/<int:step_pk>/test/<int:delivery_pk>/", views.step_test_result, name="step_test_result"),
]
