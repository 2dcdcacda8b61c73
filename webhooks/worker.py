"""The worker that `make worker` and `make run` start: RQ's SimpleWorker plus the sweeper.

SimpleWorker runs jobs in its own process (no fork per job, so connections and the
send threads are kept). Beside it, a thread runs the sweep every
WEBHOOKS_SWEEP_INTERVAL seconds, so that retries and lost jobs need no extra process.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from rq.worker import SimpleWorker

from webhooks.sweeper import sweep

logger = logging.getLogger(__name__)


class DeliveryWorker(SimpleWorker):
    def work(self, burst: bool = False, *args: Any, **kwargs: Any) -> bool:
        if not burst:
            threading.Thread(target=sweep_forever, name="sweeper", daemon=True).start()
        return super().work(burst, *args, **kwargs)


def sweep_forever() -> None:
    stop = threading.Event()
    while True:
        close_old_connections()
        try:
            done = sweep()
            if any(done.values()):
                logger.info("sweep: %s", done)
        except Exception:
            # A sweep that fails (database restarting, say) is tried again next interval.
            logger.exception("sweep failed")
        finally:
            connection.close()
        # Jitter keeps the sweeps of several workers from lining up.
        interval = settings.WEBHOOKS_SWEEP_INTERVAL
        stop.wait(interval * random.uniform(0.9, 1.1))
