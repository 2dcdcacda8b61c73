from django.urls import path

from webhooks import deliveries, views

app_name = "webhooks"
urlpatterns = [
    path("", views.webhook_list, name="list"),
    path("new/", views.webhook_add, name="add"),
    path("ip-addresses/", views.ip_addresses, name="ip_addresses"),
    path("<int:pk>/", views.webhook_detail, name="detail"),
    path("<int:pk>/secret/rotate/", views.rotate_secret, name="rotate_secret"),
    path("<int:pk>/edit/", views.webhook_edit, name="edit"),
    path("<int:pk>/delete/", views.webhook_delete, name="delete"),
    path("<int:pk>/toggle/", views.webhook_toggle, name="toggle"),
    path("<int:pk>/test/", views.send_test, name="send_test"),
    path("<int:pk>/test/<int:delivery_pk>/", views.test_result, name="test_result"),
    path("<int:pk>/deliveries/", deliveries.delivery_list, name="deliveries"),
    path("<int:pk>/deliveries/retry-failed/", deliveries.retry_failed, name="retry_failed"),
    path("<int:pk>/deliveries/<int:delivery_pk>/", deliveries.delivery_detail, name="delivery"),
    path("<int:pk>/deliveries/<int:delivery_pk>/retry/", deliveries.delivery_retry, name="delivery_retry"),
]
