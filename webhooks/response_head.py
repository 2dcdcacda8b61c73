"""The status line and headers of a receiver's answer, read without the email package.

http.client hands the header block of every response to `email.parser`, a MIME parser
built for mail: py-spy put it at a quarter of a send thread's CPU per delivery. When
every line of the block is a plain `Name: value` line, `parse_headers` here makes the
same `http.client.HTTPMessage` from it directly; any other block (a folded line, a
stray line break inside a value, a line that is no header) still goes to the email
parser, so that whatever a receiver sends is read exactly as before
(tests/test_response_head.py compares the two on hostile blocks).
"""

from __future__ import annotations

import email.parser
import http.client
import re
from typing import BinaryIO

# A line the email parser reads as one header and nothing else: a name of printable
# ASCII but ":", then a value without any of the characters at which str.splitlines()
# (and so the email parser) breaks a line.
PLAIN_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\r\n\x0b\x0c\x1c-\x1e\x85]*\r?\n")


def parse_headers(fp: BinaryIO) -> http.client.HTTPMessage:
    """http.client.parse_headers, with its limits (64 KiB a line, 100 lines), made faster."""
    lines = http.client._read_headers(fp)  # the limits, exactly as http.client applies them
    message = http.client.HTTPMessage()
    for line in lines[:-1]:  # the last is the empty line that ends the block (or b"" at EOF)
        if PLAIN_LINE.fullmatch(line) is None:
            text = b"".join(lines).decode("iso-8859-1")
            return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)  # type: ignore[return-value]
        name, _, value = line.decode("iso-8859-1").partition(":")
        # What the email parser's compat32 policy keeps of the line (header_source_parse).
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    return message


class Response(http.client.HTTPResponse):
    """http.client's response, but for how it reads the header block (parse_headers above)."""

    def begin(self) -> None:
        # As http.client.HTTPResponse.begin (Python 3.11), without its debug output.
        if self.headers is not None:
            return  # already begun
        status, reason, version = self._read_final_status()
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = parse_headers(self.fp)
        self._read_framing(status)

    def _read_final_status(self) -> tuple[int, str, str]:
        """The status line of the first answer that is not "100 Continue"."""
        while True:
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if status != http.client.CONTINUE:
                return status, reason, version
            http.client._read_headers(self.fp)  # a 100 Continue's headers are skipped

    def _read_framing(self, status: int) -> None:
        """Chunked or not, the body's length, and whether the connection closes after it."""
        transfer_encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(transfer_encoding and transfer_encoding.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # a nonsensical negative length is ignored
                    self.length = None
        head = self._method == "HEAD"  # type: ignore[attr-defined]
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 or head:
            self.length = 0  # no body, whatever the headers say
        # An open connection without chunks or a length ends the body by closing.
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True
