"""Which URLs and addresses a webhook may reach (server-side request forgery rules).

A webhook URL is typed by a user, so without these rules our workers would POST
wherever they are told: the cloud metadata service, the database, an admin page on
localhost. Only http and https are allowed, and every address a host name resolves
to must be a public one. The check runs when a URL is saved and again when a
connection is made (see `outbound`), where the socket connects to the very
address that was checked, so DNS cannot answer differently in between.

`WEBHOOKS_ALLOW_PRIVATE_URLS=true` lifts the address rules, for development and
tests that post to 127.0.0.1. It is read at call time.
"""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

ALLOWED_SCHEMES = ("http", "https")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Shared address space for carrier-grade NAT: not "private" for the ipaddress module
# in every Python version, but never a public receiver.
CGNAT = ipaddress.ip_network("100.64.0.0/10")
METADATA = ipaddress.ip_address("169.254.169.254")
# NAT64 gateways turn 64:ff9b::a.b.c.d into a connection to a.b.c.d.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}


class UnsafeURL(ValueError):
    """A URL we refuse to send to; `str()` is a sentence for the user."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as typed, IDNA-encoded, without brackets
    port: int


def private_urls_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_URLS", False))


def parse(url: str) -> Target:
    """The scheme, host and port of `url`, or UnsafeURL saying what is wrong with it."""
    if not isinstance(url, str) or not url:
        raise UnsafeURL(_("Enter a URL."))
    # Spaces, control and invisible characters (zero-width, bidi overrides, surrogates) have no
    # place in a URL and make one look like another.
    if any(ord(char) < 33 or unicodedata.category(char) in INVISIBLE for char in url):
        raise UnsafeURL(_("The URL must not contain spaces, control characters or invisible characters."))
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL(_("The URL is not valid (check the host name and the port).")) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURL(_("Only http:// and https:// URLs are allowed."))
    host = parts.hostname
    if not host:
        raise UnsafeURL(_("The URL has no host name."))
    try:
        # Internationalised names travel as punycode; a name that cannot be encoded is not a host.
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UnsafeURL(_("The host name of the URL is not valid.")) from None
    return Target(scheme, ascii_host, port or (443 if scheme == "https" else 80))


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells as a number, in any form a resolver accepts, else None.

    Besides dotted quads and IPv6, C resolvers accept `2130706433`, `0x7f000001` and
    `0177.0.0.1` for 127.0.0.1; inet_aton reads them the same way.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def refusal(address: IPAddress) -> str | None:
    """Why `address` may not be reached, or None if it is a public address."""
    wrapped = wrapped_ipv4(address)
    if wrapped is not None:
        return refusal(wrapped)
    return special_purpose(address) or not_public(address)


def wrapped_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches (::ffff:127.0.0.1 reaches 127.0.0.1), or None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    wrapped = address.ipv4_mapped or address.sixtofour
    if wrapped is None and address in NAT64:
        wrapped = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return wrapped


def special_purpose(address: IPAddress) -> str | None:
    """What `address` is if it stands for this host, a link, a group or the metadata service."""
    if address == METADATA:
        return _("the cloud metadata address")
    if address.is_loopback:
        return _("a loopback address")
    if address.is_unspecified:
        return _("an unspecified address")
    if address.is_link_local:
        return _("a link-local address")
    if address.is_multicast:
        return _("a multicast address")
    return None


def not_public(address: IPAddress) -> str | None:
    """What `address` is if it belongs to a shared, reserved or private range; None if it is global."""
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return _("a shared (carrier-grade NAT) address")
    if address.is_reserved:
        return _("a reserved address")
    if address.is_private:
        return _("a private address")
    if not address.is_global:
        return _("a reserved address")
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` stands for, literal forms first; UnsafeURL if it resolves to none."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(_("Could not resolve the host name %(host)s.") % {"host": host}) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeURL(_("Could not resolve the host name %(host)s.") % {"host": host})
    return addresses


def checked_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses to connect to for `host`, all of them allowed; UnsafeURL otherwise.

    If any address of a name is refused, the name is refused: otherwise a host could
    publish one public and one private address and let chance pick.
    """
    addresses = resolve(host, port)
    if private_urls_allowed():
        return addresses
    for address in addresses:
        reason = refusal(address)
        if reason:
            shown = host if literal_address(host) is not None else f"{host} ({address})"
            raise UnsafeURL(
                _("Webhooks cannot be sent to %(host)s: it is %(reason)s. Use a public URL.")
                % {"host": shown, "reason": reason}
            )
    return addresses


def check_url(url: str) -> Target:
    """Parse `url` and check the addresses its host resolves to; UnsafeURL if refused.

    With private URLs allowed the host is not resolved, so that a development setup
    can save a URL whose name does not resolve yet.
    """
    target = parse(url)
    if not private_urls_allowed():
        checked_addresses(target.host, target.port)
    return target
