"""Why an attempt got no answer, in the reader's language.

The engine stores the sentence in English (webhooks.outbound, webhooks.ssrf, the sweeper): the
worker has no reader, and operators, the API and the logs read English. The pages show it with
`in_words()`; a sentence not listed here is shown as it was stored.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

# Stored word for word.
FIXED = {
    gettext_noop("Connection refused"),
    gettext_noop("Could not resolve the host name"),
    gettext_noop("Could not connect to the server"),
    gettext_noop("Connection reset by the server"),
    gettext_noop("The server closed the connection without answering"),
    gettext_noop("The server closed the connection before the response was complete"),
    gettext_noop("The answer was not valid HTTP"),
    gettext_noop("The answer was not valid HTTP: a header line longer than 64 KiB"),
    gettext_noop("The response could not be decoded"),
    gettext_noop("The request could not be encoded (check the URL and the custom headers)"),
    gettext_noop("TLS handshake failed: the server's certificate could not be verified"),
    gettext_noop("The request failed"),
    gettext_noop("Invalid URL"),
    gettext_noop("The worker stopped before this attempt finished (its lease expired); it will be tried again."),
}
TIMED_OUT_CONNECTING = gettext_noop("Timed out after %(seconds)s s while connecting")
TIMED_OUT = gettext_noop("Timed out after %(seconds)s s")
# Stored with a figure or a name in them: the stored English, and the sentence that says it.
PATTERNS = [
    (re.compile(r"Timed out after (?P<seconds>[\d.]+) s while connecting"), TIMED_OUT_CONNECTING),
    (re.compile(r"Timed out after (?P<seconds>[\d.]+) s"), TIMED_OUT),
    (
        re.compile(r"Could not resolve the host name (?P<host>.+)\."),
        gettext_noop("Could not resolve the host name %(host)s."),
    ),
    (
        re.compile(r"The answer could not be read \((?P<kind>\w+)\)"),
        gettext_noop("The answer could not be read (%(kind)s)"),
    ),
    (
        re.compile(r"Webhooks cannot be sent to (?P<host>.+): it is (?P<reason>.+)\. Use a public URL\."),
        gettext_noop("Webhooks cannot be sent to %(host)s: it is %(reason)s. Use a public URL."),
    ),
]
# Figures that are words themselves: the kind of address the SSRF guard refused ("a loopback
# address"), each a message of webhooks.ssrf, so the catalogue already has it.
WORDS = {"reason"}


def timed_out(seconds: float, connecting: bool = False) -> str:
    """The sentence stored for a request cut at its deadline of `seconds` (in English, as all are)."""
    return (TIMED_OUT_CONNECTING if connecting else TIMED_OUT) % {"seconds": f"{seconds:g}"}


def in_words(error: str) -> str:
    """`error` as stored, in the active language when it is one of the engine's sentences."""
    if error in FIXED:
        return _(error)
    for stored, sentence in PATTERNS:
        if found := stored.fullmatch(error):
            values = found.groupdict()
            return _(sentence) % {name: _(value) if name in WORDS else value for name, value in values.items()}
    return error
