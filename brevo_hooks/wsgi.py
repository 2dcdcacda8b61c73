"""WSGI entry point, used by gunicorn in `make web`."""

import os

from django.core.wsgi import get_wsgi_application

from brevo_hooks.warm_up import warm_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brevo_hooks.settings")

application = get_wsgi_application()
warm_up()
