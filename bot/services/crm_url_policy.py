"""Where a CRM configuration may send crmcard's requests (and its stored secret).

A tenant admin types the URLs of a CRM configuration, so they must not reach what the
server can reach and the admin cannot: the cloud's metadata endpoint, loopback ports,
the private network. The rules, checked when a configuration is saved
(:func:`url_problems`, :func:`resolution_problems`) and again for every connection
(:func:`guarded_socket_factory`, the CRM session's connector):

- ``base_url``, ``login_url``, ``token_url`` and ``authority_host`` are ``https`` URLs
  with a host name or a canonical IP address, no user info;
- vendor kinds reach only their documented domains (:data:`VENDOR_DOMAINS`), widened by
  the operator with ``CRMCARD_CRM_EXTRA_DOMAINS``;
- the generic REST kind may use any public host: private, loopback, link-local,
  multicast, reserved and unspecified addresses are refused after DNS resolution, and the
  address every socket connects to is checked again, so a name that resolves elsewhere
  later (DNS rebinding) still cannot reach them.

``CRMCARD_CRM_ALLOW_LOCAL_URLS`` (the operator's explicit allowance; the tests' local
fakes use it) permits ``http`` and those addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic.alias_generators import to_camel

from bot.domain.crm_config import CrmConfig, CrmKind
from bot.errors import FieldError
from bot.i18n import Text, t

VENDOR_DOMAINS: dict[CrmKind, tuple[str, ...]] = {
    CrmKind.SALESFORCE: (
        r"[a-z0-9-]+(\.[a-z0-9-]+)*\.my\.salesforce\.com",
        r"(login|test)\.salesforce\.com",
    ),
    CrmKind.DYNAMICS: (r"[a-z0-9-]+\.crm[0-9]*\.dynamics\.com", r"login\.microsoftonline\.com"),
    CrmKind.ZENDESK: (r"[a-z0-9-]+\.zendesk\.com",),
    CrmKind.SERVICENOW: (r"[a-z0-9-]+\.service-now\.com",),
    CrmKind.FRESHDESK: (r"[a-z0-9-]+\.freshdesk\.com",),
    CrmKind.KUSTOMER: (r"([a-z0-9-]+\.)*kustomerapp\.com",),
    CrmKind.ORACLE: (r"[a-z0-9-]+(\.[a-z0-9-]+)*\.custhelp\.com",),
}
"""Host patterns (whole host, lower case) each vendor documents for its API and sign-in."""

_URL_FIELDS = (
    ("base_url",),
    ("auth", "login_url"),
    ("auth", "token_url"),
    ("auth", "authority_host"),
)


@dataclass(frozen=True)
class UrlPolicy:
    allow_local: bool = False
    """http and private/loopback/link-local addresses allowed (tests, local development)."""
    extra_domains: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Per kind, further host suffixes the operator allows (``.crm.microsoftdynamics.de``)."""

    def host_allowed(self, kind: CrmKind, host: str) -> bool:
        patterns = VENDOR_DOMAINS.get(kind)
        if patterns is None:
            return True  # generic REST: any public host (checked by address)
        if any(re.fullmatch(p, host) for p in patterns):
            return True
        return any(
            host == s.lstrip(".") or host.endswith("." + s.lstrip("."))
            for s in self.extra_domains.get(kind.value, ())
        )


_KINDS = {
    "loopback": t("loopback"),
    "link-local": t("link-local"),
    "private": t("private"),
    "multicast": t("multicast"),
    "unspecified": t("unspecified"),
    "reserved": t("reserved"),
}
"""The kinds of address crmcard never connects to (their names as messages)."""


def blocked(address: str) -> Text | None:
    """Why crmcard must not connect to ``address`` (an IP literal), or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return t("is not an IP address")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
    ):
        if hit:
            return t("is a {kind} address", kind=_KINDS[reason])
    return None


def _urls(config: CrmConfig) -> list[tuple[list[str | int], str]]:
    found: list[tuple[list[str | int], str]] = []
    for path in _URL_FIELDS:
        value: Any = config
        for name in path:
            value = getattr(value, name, None)
        if isinstance(value, str) and value:
            found.append(([to_camel(name) for name in path], value))
    return found


def _problem(loc: list[str | int], msg: str) -> FieldError:
    return FieldError(loc=loc, msg=msg, type="unsafe_url")


def host_problem(host: str) -> Text | None:
    """A host that is neither a DNS name nor a canonical IP literal (``2130706433``)."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+|0x[0-9a-f.x]+", host) or not re.search(
        r"[a-z]", host.rsplit(".", 1)[-1]
    ):
        return t("{host} is not a host name or a canonical IP address", host=repr(host))
    return None


def url_problems(config: CrmConfig, policy: UrlPolicy) -> list[FieldError]:
    """Every URL of ``config`` that breaks the rules, without resolving any name."""
    problems = []
    for loc, url in _urls(config):
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" and not (policy.allow_local and parts.scheme == "http"):
            problems.append(_problem(loc, t("must be an https URL")))
        elif not host:
            problems.append(_problem(loc, t("names no host")))
        elif parts.username is not None or parts.password is not None:
            problems.append(_problem(loc, t("must not hold a user name or password")))
        elif (reason := host_problem(host)) is not None:
            problems.append(_problem(loc, reason))
        elif not policy.allow_local and (reason := literal_blocked(host)) is not None:
            problems.append(_problem(loc, t("{host} {reason}", host=host, reason=reason)))
        elif not policy.host_allowed(config.kind, host) and not policy.allow_local:
            problems.append(
                _problem(
                    loc,
                    t(
                        "{host} is not a {kind} domain crmcard may reach",
                        host=host,
                        kind=config.kind.value,
                    ),
                )
            )
    return problems


def literal_blocked(host: str) -> Text | None:
    """Why crmcard must not connect to ``host`` if it is an IP literal (a name: None)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return blocked(host)


async def resolution_problems(config: CrmConfig, policy: UrlPolicy) -> list[FieldError]:
    """The generic REST kind's host names that resolve to an address crmcard refuses."""
    if policy.allow_local or config.kind is not CrmKind.REST:
        return []
    loop = asyncio.get_running_loop()
    problems = []
    for loc, url in _urls(config):
        host = (urlsplit(url).hostname or "").lower()
        if not host or literal_blocked(host) is not None:
            continue
        try:
            infos = await loop.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
        except OSError:
            problems.append(_problem(loc, t("{host} does not resolve", host=host)))
            continue
        for info in infos:
            reason = blocked(str(info[4][0]))
            if reason is not None:
                problems.append(
                    _problem(
                        loc,
                        t(
                            "{host} resolves to {address}, which {reason}",
                            host=host,
                            address=str(info[4][0]),
                            reason=reason,
                        ),
                    )
                )
                break
    return problems


class RefusedAddress(OSError):
    """A connection to an address crmcard refuses (raised as the socket is made)."""


SocketFactory = Callable[[tuple[Any, ...]], socket.socket]


def guarded_socket_factory(policy: UrlPolicy) -> SocketFactory | None:
    """For the CRM session's connector: every socket's address is checked (None: allowed)."""
    if policy.allow_local:
        return None

    def make(addr_info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, _, address = addr_info
        reason = blocked(str(address[0]))
        if reason is not None:
            raise RefusedAddress(f"crmcard does not connect to {address[0]}: it {reason}")
        return socket.socket(family=family, type=kind, proto=proto)

    return make
