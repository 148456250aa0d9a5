"""Links to CRM records as agents paste them, read back into (CRM kind, host, record).

Each vendor's record pages have a documented shape:

- Salesforce Lightning: ``https://<domain>.lightning.force.com/lightning/r/<Object>/<Id>/view``
  (also on ``*.my.salesforce.com``);
- Dynamics 365 (model-driven apps): ``https://<org>.crm<N>.dynamics.com/main.aspx?...
  &etn=<entity>&id=<guid>``;
- Zendesk: ``https://<sub>.zendesk.com/agent/tickets/<n>`` and ``/agent/users/<n>``;
- ServiceNow: ``https://<instance>.service-now.com/nav_to.do?uri=<table>.do?sys_id=<id>``
  (the ``uri`` URL-encoded or not);
- Freshdesk: ``https://<domain>.freshdesk.com/a/tickets/<n>`` and ``/a/contacts/<n>``;
- Kustomer: ``https://<org>.kustomerapp.com/app/customers/<id>``;
- Oracle B2C Service (Browser UI bookmarks): ``https://<site>.custhelp.com/AgentWeb/
  Bookmark/<Incident|Contact|Organization>/<id>``.

The record type is the card's vocabulary (contact, account, case, lead, opportunity), or
the vendor's own name where the card has none (a ServiceNow table, a custom object).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class RecordLink:
    kind: str
    """The CRM kind, as CRM configurations name it (``salesforce``, ``dynamics``...)."""
    host: str
    record_type: str
    record_id: str


_SALESFORCE_OBJECTS = {
    "Contact": "contact",
    "Account": "account",
    "Case": "case",
    "Lead": "lead",
    "Opportunity": "opportunity",
}
_DYNAMICS_ENTITIES = {
    "contact": "contact",
    "account": "account",
    "incident": "case",
    "lead": "lead",
    "opportunity": "opportunity",
}
_PATHS: tuple[tuple[str, re.Pattern[str], dict[str, str]], ...] = (
    (
        "zendesk",
        re.compile(r"^/agent/(tickets|users|organizations)/(\d+)"),
        {
            "tickets": "case",
            "users": "contact",
            "organizations": "account",
        },
    ),
    (
        "freshdesk",
        re.compile(r"^/a/(tickets|contacts|companies)/(\d+)"),
        {
            "tickets": "case",
            "contacts": "contact",
            "companies": "account",
        },
    ),
    (
        "kustomer",
        re.compile(r"^/app/(customers|companies)/([0-9a-zA-Z]+)"),
        {
            "customers": "contact",
            "companies": "account",
        },
    ),
    (
        "oracle",
        re.compile(r"^/AgentWeb/Bookmark/(Incident|Contact|Organization)/(\d+)"),
        {
            "Incident": "case",
            "Contact": "contact",
            "Organization": "account",
        },
    ),
)
_HOSTS = {
    "salesforce": (".lightning.force.com", ".my.salesforce.com"),
    "dynamics": (".dynamics.com",),
    "zendesk": (".zendesk.com",),
    "servicenow": (".service-now.com",),
    "freshdesk": (".freshdesk.com",),
    "kustomer": (".kustomerapp.com",),
    "oracle": (".custhelp.com",),
}
_SALESFORCE = re.compile(r"^/lightning/r/([A-Za-z0-9_]+)/([A-Za-z0-9]{15,18})/view")
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\}?$")


def kind_of_host(host: str) -> str | None:
    """The CRM kind whose record pages live on ``host`` (by the vendor's domain)."""
    for kind, suffixes in _HOSTS.items():
        if host.endswith(suffixes):
            return kind
    return None


def parse(url: str) -> RecordLink | None:
    """The record ``url`` points at, or None when it is no CRM record page we know."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    kind = kind_of_host(host)
    if parts.scheme != "https" or kind is None:
        return None
    query = parse_qs(parts.query)
    if kind == "salesforce":
        found = _SALESFORCE.match(parts.path)
        if found is None:
            return None
        sobject, record_id = found.groups()
        return RecordLink(kind, host, _SALESFORCE_OBJECTS.get(sobject, sobject), record_id)
    if kind == "dynamics":
        entity, record_id = query.get("etn", [""])[0], query.get("id", [""])[0]
        if not entity or not _GUID.match(record_id):
            return None
        record_type = _DYNAMICS_ENTITIES.get(entity, entity)
        return RecordLink(kind, host, record_type, record_id.strip("{}").lower())
    if kind == "servicenow":
        return _servicenow(host, parts.path, query)
    for path_kind, pattern, types in _PATHS:
        found = pattern.match(parts.path) if path_kind == kind else None
        if found is not None:
            return RecordLink(kind, host, types[found.group(1)], found.group(2))
    return None


def _servicenow(host: str, path: str, query: dict[str, list[str]]) -> RecordLink | None:
    if path.rstrip("/").endswith("/nav_to.do") or path == "/nav_to.do":
        target = unquote(query.get("uri", [""])[0])
    else:  # /now/nav/ui/classic/params/target/<table>.do%3Fsys_id%3D<id>
        target = unquote(path.rsplit("/target/", 1)[-1]) if "/target/" in path else ""
    table, _, rest = target.lstrip("/").partition(".do?")
    sys_id = parse_qs(rest).get("sys_id", [""])[0]
    if not re.fullmatch(r"[a-z0-9_]+", table) or not _SYS_ID.match(sys_id):
        return None
    return RecordLink("servicenow", host, table, sys_id)
