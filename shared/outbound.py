"""Outbound URLs: which addresses Roster may connect to (docs/security.md §1).

Every URL Roster is configured with (a target's `settings.url`, `ROSTER_TEAMS_WEBHOOK`, and
whatever a connector adds) is checked twice:

- when it is saved, `check_url(url, field)` raises InvalidInput (a 422 naming `field`) for a
  URL that is not https (plain http only to an allowed loopback), carries credentials, or
  names an address Roster refuses (an IP literal, or a name that resolves to one);
- when Roster connects, `client(...)` gives an httpx client whose transport resolves the
  name, checks *every* address and connects to the address it checked (no DNS rebinding),
  keeping the name for the Host header, SNI and certificate verification.

Always refused: link-local (169.254/16 with the cloud metadata service, fe80::/10),
unspecified, multicast, broadcast and reserved addresses. Private ranges (10/8, 172.16/12,
192.168/16, 100.64/10, fc00::/7, …) only inside a CIDR of `ROSTER_OUTBOUND_ALLOW_CIDRS`
(default none). Loopback only with `ROSTER_ALLOW_LOOPBACK=true` (a development setting).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.errors import FieldError, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

ALLOW_LOOPBACK = "ROSTER_ALLOW_LOOPBACK"
ALLOW_CIDRS = "ROSTER_OUTBOUND_ALLOW_CIDRS"
MAX_URL_LENGTH = 2048


class OutboundRefused(InvalidInput):
    """A URL or address Roster will not connect to; `detail` names the field and why."""


class AddressRefused(httpx.RequestError):
    """Raised by PinnedTransport at connect time: not retried, the message says why."""


@dataclass(frozen=True)
class OutboundPolicy:
    """What may be reached besides public addresses."""

    allow_loopback: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OutboundPolicy:
        """From `ROSTER_ALLOW_LOOPBACK` and `ROSTER_OUTBOUND_ALLOW_CIDRS` (comma-separated);
        ValueError naming the setting when a CIDR does not parse."""
        loopback = (env.get(ALLOW_LOOPBACK) or "").strip().lower() == "true"
        networks = []
        for item in (env.get(ALLOW_CIDRS) or "").split(","):
            if item.strip():
                try:
                    networks.append(ipaddress.ip_network(item.strip(), strict=False))
                except ValueError:
                    raise ValueError(f"{ALLOW_CIDRS}: {item.strip()!r} is not a CIDR") from None
        return cls(loopback, tuple(networks))

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be reached, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.refusal(address.ipv4_mapped)
        if address.is_loopback:
            return None if self.allow_loopback else f"{address} is loopback ({ALLOW_LOOPBACK} is off)"
        always = _always_refused(address)
        if always:
            return f"{address} is {always}"
        if any(address in network for network in self.allowed_networks):
            return None
        if address.is_private or not address.is_global:
            return f"{address} is a private address outside {ALLOW_CIDRS}"
        return None


def _always_refused(address: IPAddress) -> str | None:
    if address.is_link_local:
        return "link-local (cloud metadata lives there)"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if address.is_reserved:
        return "reserved"
    return None


# Where the process's policy comes from: the runtime installs its settings' policy here
# (shared/runtime.py), so this module needs no runtime; without one, the environment's.
installed_policy: Callable[[], OutboundPolicy | None] = lambda: None  # noqa: E731


def current_policy() -> OutboundPolicy:
    """The installed runtime's policy, else the environment's."""
    return installed_policy() or OutboundPolicy.from_env(os.environ)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to; an empty list when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(
    url: Any, field: str, policy: OutboundPolicy | None = None, resolve: Resolver = system_resolver
) -> str:
    """`url` if Roster may call it, else OutboundRefused (422) naming `field`.

    A name that does not resolve now is accepted here: the connect-time check refuses it
    then if it resolves to a refused address."""
    scheme, host, port = _parts(url, field)
    addresses = check_host(host, port or 443, field, policy, resolve)
    if scheme == "http" and not (addresses and all(a.is_loopback for a in addresses)):
        _refuse(field, "must be https (plain http only to this machine's loopback)")
    return url


def check_address_of(url: Any, field: str, policy: OutboundPolicy | None = None) -> str:
    """`check_url` for an http(s) URL; for another scheme (ldap, ldaps: the connector checks
    its scheme) the address rule alone. OutboundRefused naming `field`."""
    if not isinstance(url, str) or urlsplit(url).scheme in ("http", "https", ""):
        return check_url(url, field, policy)
    parts = urlsplit(url)
    try:
        port = parts.port or 0
    except ValueError:
        _refuse(field, "the port is not a number from 0 to 65535")
    if not parts.hostname:
        _refuse(field, "must be an absolute URL with a host")
    check_host(parts.hostname, port, field, policy)
    return url


def check_host(
    host: str, port: int, field: str, policy: OutboundPolicy | None = None, resolve: Resolver = system_resolver
) -> list[IPAddress]:
    """The addresses of `host` if every one may be reached, else OutboundRefused naming
    `field`. For a connector whose protocol is not http (LDAP): the address rule alone."""
    policy = policy or current_policy()
    addresses = _literal(host) or [_address(a) for a in resolve(host, port)]
    if host.lower().rstrip(".") == "localhost" and not addresses:
        addresses = [ipaddress.ip_address("127.0.0.1")]
    _check_addresses(addresses, field, policy)
    return addresses


def _parts(url: Any, field: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an http(s) URL without credentials, else OutboundRefused."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        _refuse(field, f"an https URL of at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        _refuse(field, "the port is not a number from 0 to 65535")
    if parts.scheme not in ("https", "http") or not host:
        _refuse(field, "must be an https URL")
    if parts.username is not None or parts.password is not None:
        _refuse(field, "must not carry credentials: name a ROSTER_TARGET_SECRET_* variable instead")
    return parts.scheme, host, port


def scheme_refusal(url: str, secure: Iterable[str], plain: Iterable[str] = (), allow_loopback: bool = False) -> str | None:
    """Why `url`'s scheme is refused, or None: a `secure` scheme anywhere, a `plain` one only to
    this machine's loopback and only when `allow_loopback` (ROSTER_ALLOW_LOOPBACK=true). The one
    scheme rule of every configured URL (targets, ticket tracker); `check_url` then refuses
    credentials and checks the addresses."""
    secure, plain = set(secure), set(plain)
    parts = urlsplit(url)
    if not parts.hostname:
        return "must be an absolute URL with a host"
    if parts.scheme in secure or (parts.scheme in plain and allow_loopback and is_loopback_host(parts.hostname)):
        return None
    wanted = " or ".join(sorted(secure))
    if not plain:
        return f"must be {wanted}"
    return f"must be {wanted} (plain {'/'.join(sorted(plain))} only to the loopback with {ALLOW_LOOPBACK}=true)"


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address literal."""
    if host.lower().rstrip(".") == "localhost":
        return True
    literal = _literal(host)
    return bool(literal) and literal[0].is_loopback


def check_optional_url(url: str | None, field: str, policy: OutboundPolicy | None = None) -> str | None:
    """`check_url` for a setting that may be empty."""
    return None if not url else check_url(url, field, policy)


def _check_addresses(addresses: Iterable[IPAddress], field: str, policy: OutboundPolicy) -> None:
    for address in addresses:
        why = policy.refusal(address)
        if why:
            _refuse(field, f"refused: {why}")


def _literal(host: str) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        return []


def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 scope id is not part of it


def _refuse(field: str, message: str) -> None:
    raise OutboundRefused(f"{field}: {message}", [FieldError(field, message)])


class PinnedTransport(httpx.BaseTransport):
    """Resolves each request's host once, checks every address, and sends the request to
    the first address, with the original name kept for Host, SNI and the certificate."""

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        inner: httpx.BaseTransport | None = None,
        resolve: Resolver = system_resolver,
        field: str = "url",
    ):
        self.policy = policy or current_policy()
        self.inner = inner or httpx.HTTPTransport()
        self.resolve = resolve
        self.field = field

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        addresses = _literal(host) or [_address(a) for a in self.resolve(host, request.url.port or 443)]
        if not addresses:
            raise httpx.ConnectError(f"{self.field}: the host does not resolve", request=request)
        try:
            _check_addresses(addresses, self.field, self.policy)
        except OutboundRefused as refused:
            raise AddressRefused(refused.detail, request=request) from None
        pinned = request.url.copy_with(host=str(addresses[0]))
        request.url = pinned
        if not _literal(host):
            request.extensions = {**request.extensions, "sni_hostname": host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def client(
    *,
    field: str = "url",
    transport: httpx.BaseTransport | None = None,
    policy: OutboundPolicy | None = None,
    **options: Any,
) -> httpx.Client:
    """An httpx client whose every request goes through PinnedTransport (around `transport`
    when given: tests pass an in-process one). Redirects are not followed."""
    inner = transport or httpx.HTTPTransport(verify=options.pop("verify", True))
    guarded = PinnedTransport(policy, inner, field=field)
    options.pop("verify", None)
    return httpx.Client(transport=guarded, follow_redirects=False, **options)
