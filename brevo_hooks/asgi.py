"""ASGI entry point, for servers that prefer it."""

import os

from django.core.asgi import get_asgi_application

from brevo_hooks.warm_up import warm_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brevo_hooks.settings")

application = get_asgi_application()
warm_up()
