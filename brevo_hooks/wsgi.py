"""WSGI entry point, used by gunicorn in `make web`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brevo_hooks.settings")

application = get_wsgi_application()
