# gunicorn reads this file from the directory it starts in (`make web`, `make run`).
# The access log must never hold an export download token (brevo_hooks/access_log.py).
logger_class = "brevo_hooks.access_log.RedactingLogger"
