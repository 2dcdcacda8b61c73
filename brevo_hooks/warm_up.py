"""What a web process loads before its first request, so that the request does not wait for it.

Django imports the URLconf, and with it every view module, DRF, drf-spectacular and the
PostgreSQL extras, on the first request a process serves: about 0.3 s of CPU, paid by one
visitor after every start (and gunicorn restarts its worker processes now and then). The
entry points (wsgi.py, asgi.py) call `warm_up()` once the application is built, before the
server hands the process any request.
"""

from __future__ import annotations

from django.urls import reverse


def warm_up() -> None:
    """Import the URLconf and build its reverse-lookup tables.

    One reverse() does both: building the tables (which every {% url %} and redirect reads)
    imports the URLconf, and every module its include()s name.
    """
    reverse("healthz")
