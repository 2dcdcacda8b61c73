"""A web process loads its URLconf when it starts, not on the first request it serves."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, process_env

# Loaded only through the URLconf: before the warm-up, by the first request.
VIEW_MODULES = [
    "brevo_hooks.urls", "webhooks.views", "webhooks.api.views", "automations.views", "drf_spectacular.views",
]  # fmt: skip

PROBE = """
import json, sys
import brevo_hooks.{entry}
from django.urls import get_resolver
loaded = [m for m in {modules!r} if m in sys.modules]
print(json.dumps({{"loaded": loaded, "reverse_built": get_resolver()._populated}}))
"""


@pytest.mark.parametrize("entry", ["wsgi", "asgi"])
def test_the_entry_point_loads_every_view_before_the_first_request(entry):
    # A fresh interpreter, as gunicorn's worker process is: this test process has long imported them.
    probe = PROBE.format(entry=entry, modules=VIEW_MODULES)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"loaded": VIEW_MODULES, "reverse_built": True}
