"""Sending deliveries: the engine's pipeline and what each answer means.

- `pipeline`: a job's loop: take (in turns, from Redis), claim, send on a pool of
  threads, gather, record; `deliver`, `send` and `drain` are its entry points;
- `request`: one request, its headers and signature, and the thread pool;
- `outcome`: what an answer means for its delivery (delivered, retried when, given up),
  decided before anything is written, with every stored text made storable;
- `record`: a round's outcomes in a few statements, each delivery's its own;
- `endpoints`: a job's mirror of the webhooks it sends to, and what it holds for each;
- `breaker`: pausing endpoints that stop answering, and probing them after the pause;
- `failing`: a webhook's run of failures, and disabling it.
"""

from webhooks.sending.pipeline import deliver, drain, lease, send

__all__ = ["deliver", "drain", "lease", "send"]
