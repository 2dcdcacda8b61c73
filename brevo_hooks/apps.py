from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """Django's admin, on our AdminSite (its login is rate-limited)."""

    default_site = "brevo_hooks.admin.AdminSite"
