# Follows the public ServiceNow REST Table API and OAuth references:
#   https://docs.servicenow.com/bundle/latest/page/integrate/inbound-rest/concept/c_TableAPI.html
#   https://www.servicenow.com/docs/r/platform-user-interface/configure-user-experiences/c_EncodedQueryStrings.html
#   https://docs.servicenow.com/bundle/latest/page/administer/security/concept/c_OAuthApplications.html
#   https://docs.servicenow.com/bundle/latest/page/integrate/inbound-rest/concept/inbound-REST-API-rate-limiting.html
# Auth: HTTP basic, or a bearer token from POST /oauth_token.do (form-encoded;
# grant_type=password | client_credentials | refresh_token).  Lists: GET
# /api/now/table/{table}?sysparm_query=<encoded query>&sysparm_limit=&sysparm_offset= with
# X-Total-Count and a Link header (first/prev/next/last).  Records answer as {"result": ...};
# errors as {"error": {"message": ..., "detail": ...}, "status": "failure"}.  Reference
# fields come back as {"link": ..., "value": sys_id} unless
# sysparm_exclude_reference_link=true.  Like the real platform, conditions the fake cannot
# parse are silently ignored (the reason adapters must never let user input shape a query).
"""A contract fake of the ServiceNow Table API (sys_user, customer_contact, cases...)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .base import FakeCrm, Faults, basic_credentials, bearer_token, read_json

#: table -> fields that hold a sys_id of another table (reference fields)
REFERENCES: dict[str, dict[str, str]] = {
    "sys_user": {"company": "core_company"},
    "customer_contact": {"account": "customer_account"},
    "customer_account": {},
    "core_company": {},
    "incident": {"caller_id": "sys_user", "company": "core_company"},
    "sn_customerservice_case": {"contact": "customer_contact", "account": "customer_account"},
}

_CONDITION = re.compile(
    r"^(?P<field>[a-z][a-z0-9_.]*?)"
    r"(?P<op>!=|=|NOT LIKE|NOTLIKE|LIKE|STARTSWITH|ENDSWITH|NOT IN|IN|ISEMPTY|ISNOTEMPTY)"
    r"(?P<value>.*)$",
    re.S,
)


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str


def parse_encoded_query(query: str) -> tuple[list[list[list[Condition]]], list[str], list[str]]:
    """An encoded query as ``^NQ`` groups of AND-ed lists of OR-ed conditions.

    Returns (groups, order_by, ignored) where ``ignored`` are segments that are not
    valid conditions: ServiceNow drops those silently.
    """
    groups: list[list[list[Condition]]] = [[]]
    order_by: list[str] = []
    ignored: list[str] = []
    for raw in query.split("^"):
        segment = raw
        is_or = False
        if segment.startswith("NQ"):
            groups.append([])
            segment = segment[2:]
        elif segment.startswith("ORDERBYDESC"):
            order_by.append("-" + segment[len("ORDERBYDESC") :])
            continue
        elif segment.startswith("ORDERBY"):
            order_by.append(segment[len("ORDERBY") :])
            continue
        elif segment.startswith("OR"):
            is_or = True
            segment = segment[2:]
        if segment in ("", "EQ"):
            continue
        match = _CONDITION.match(segment)
        if match is None:
            ignored.append(raw)
            continue
        condition = Condition(match["field"], match["op"], match["value"])
        current = groups[-1]
        if is_or and current:
            current[-1].append(condition)
        else:
            current.append([condition])
    return groups, order_by, ignored


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value", ""))
    return "" if value is None else str(value)


class ServiceNowFake(FakeCrm):
    public_paths = frozenset({"/oauth_token.do"})
    rate_limit = 5000

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        username: str = "integration",
        password: str = "s3cret!",
        client_id: str = "sn-client",
        client_secret: str = "sn-secret",
        seed: bool = True,
    ) -> None:
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in REFERENCES}
        self.refresh_tokens: set[str] = set()
        self.last_query: str | None = None
        self.last_ignored: list[str] = []
        self._number = 1000
        super().__init__(faults)
        if seed:
            self.seed()

    # -- data --------------------------------------------------------------------------

    def add(self, table: str, **fields: Any) -> dict[str, Any]:
        sys_id = secrets.token_hex(16)
        record = {"sys_id": sys_id, **{k: "" if v is None else v for k, v in fields.items()}}
        if table in ("incident", "sn_customerservice_case"):
            record.setdefault("sys_class_name", table)  # as the Table API gives task rows
        if table in ("incident", "sn_customerservice_case") and "number" not in record:
            self._number += 1
            prefix = "INC" if table == "incident" else "CS"
            record["number"] = f"{prefix}{self._number:07d}"
        self.tables.setdefault(table, {})[sys_id] = record
        return record

    def seed(self) -> None:
        acme = self.add("customer_account", name="Acme Corp", phone="(415) 555-0199")
        jane = self.add(
            "customer_contact",
            name="Jane Doe",
            first_name="Jane",
            last_name="Doe",
            email="jane@example.com",
            phone="415-555-0100",
            mobile_phone="",
            account=acme["sys_id"],
        )
        self.add(
            "sn_customerservice_case",
            short_description="Printer on fire",
            contact=jane["sys_id"],
            account=acme["sys_id"],
            state="1",
        )
        bob = self.add(
            "sys_user",
            name="Bob Admin",
            first_name="Bob",
            last_name="Admin",
            email="bob@example.com",
            phone="+1 (415) 555-0150",
            mobile_phone="415.555.0151",
            user_name="bob",
        )
        self.add("incident", short_description="VPN down", caller_id=bob["sys_id"], state="1")

    # -- protocol ----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        creds = basic_credentials(request)
        if creds is not None:
            return creds == (self.username, self.password)
        return self.tokens.valid(bearer_token(request))

    def error(self, status: int, message: str, *, code: str | None = None) -> web.Response:
        detail = None
        if status == 401:
            message, detail = "User Not Authenticated", "Required to provide Auth information"
        return self.json(
            {"error": {"message": message, "detail": detail}, "status": "failure"}, status=status
        )

    def rate_limit_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_limit - self.used, 0)),
            "X-RateLimit-Reset": "1700000000",
        }

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/oauth_token.do", self.oauth_token)
        router.add_get("/api/now/table/{table}", self.list)
        router.add_get("/api/now/table/{table}/{sys_id}", self.get)
        router.add_post("/api/now/table/{table}", self.create)

    # -- handlers ----------------------------------------------------------------------

    async def oauth_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = form.get("grant_type")
        denied = self.json(
            {"error_description": "access_denied", "error": "server_error"}, status=401
        )
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return denied
        if grant == "password":
            if (form.get("username"), form.get("password")) != (self.username, self.password):
                return denied
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return denied
        elif grant != "client_credentials":
            return self.json(
                {"error_description": "invalid grant_type", "error": "invalid_request"}, status=400
            )
        token, ttl = self.tokens.issue()
        body: dict[str, Any] = {
            "access_token": token,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": ttl,
        }
        if grant != "client_credentials":
            refresh = "rt_" + secrets.token_hex(8)
            self.refresh_tokens.add(refresh)
            body["refresh_token"] = refresh
        return self.json(body)

    def _table(self, request: web.Request) -> dict[str, dict[str, Any]] | None:
        return self.tables.get(request.match_info["table"])

    def _matches(self, record: dict[str, Any], condition: Condition) -> bool:
        field, op, want = condition.field, condition.op, condition.value
        have = _plain(record.get(field)).lower()
        want_l = want.lower()
        if op == "=":
            return have == want_l
        if op == "!=":
            return have != want_l
        if op == "LIKE":
            return want_l in have
        if op in ("NOT LIKE", "NOTLIKE"):
            return want_l not in have
        if op == "STARTSWITH":
            return have.startswith(want_l)
        if op == "ENDSWITH":
            return have.endswith(want_l)
        if op == "IN":
            return have in {v.lower() for v in want.split(",")}
        if op == "NOT IN":
            return have not in {v.lower() for v in want.split(",")}
        if op == "ISEMPTY":
            return have == ""
        if op == "ISNOTEMPTY":
            return have != ""
        return False

    def _query(self, records: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
        self.last_query = query
        groups, order_by, ignored = parse_encoded_query(query)
        self.last_ignored = ignored
        groups = [g for g in groups if g] or [[]]
        selected = [
            r
            for r in records
            if any(all(any(self._matches(r, c) for c in ors) for ors in group) for group in groups)
        ]
        for key in reversed(order_by):
            name = key.lstrip("-")
            selected.sort(key=lambda r, k=name: _plain(r.get(k)), reverse=key[0] == "-")
        return selected

    def _render(self, request: web.Request, table: str, record: dict[str, Any]) -> dict[str, Any]:
        fields = request.query.get("sysparm_fields")
        exclude_links = request.query.get("sysparm_exclude_reference_link") == "true"
        out: dict[str, Any] = {}
        for key, value in record.items():
            if fields and key not in fields.split(","):
                continue
            target = REFERENCES.get(table, {}).get(key)
            if target and value and not exclude_links:
                link = request.url.with_path(f"/api/now/table/{target}/{value}").with_query(None)
                out[key] = {"link": str(link), "value": value}
            else:
                out[key] = value
        return out

    async def list(self, request: web.Request) -> web.Response:
        table = request.match_info["table"]
        records = self._table(request)
        if records is None:
            return self.error(400, f"Invalid table {table}")
        try:
            limit = int(request.query.get("sysparm_limit", "10000"))
            offset = int(request.query.get("sysparm_offset", "0"))
        except ValueError:
            return self.error(400, "Invalid sysparm_limit or sysparm_offset")
        selected = self._query(list(records.values()), request.query.get("sysparm_query", ""))
        total = len(selected)
        chunk = selected[offset : offset + limit]
        links = [("first", 0)]
        if offset > 0:
            links.append(("prev", max(offset - limit, 0)))
        if offset + limit < total:
            links.append(("next", offset + limit))
        links.append(("last", max(((total - 1) // limit) * limit, 0) if limit else 0))
        link_header = ",".join(
            f"<{request.url.update_query(sysparm_offset=str(off), sysparm_limit=str(limit))}>"
            f';rel="{rel}"'
            for rel, off in links
        )
        return self.json(
            {"result": [self._render(request, table, r) for r in chunk]},
            headers={"X-Total-Count": str(total), "Link": link_header},
        )

    async def get(self, request: web.Request) -> web.Response:
        table = request.match_info["table"]
        records = self._table(request)
        if records is None:
            return self.error(400, f"Invalid table {table}")
        record = records.get(request.match_info["sys_id"])
        if record is None:
            return self.json(
                {
                    "error": {
                        "message": "No Record found",
                        "detail": "Record doesn't exist or ACL restricts the record retrieval",
                    },
                    "status": "failure",
                },
                status=404,
            )
        return self.json({"result": self._render(request, table, record)})

    async def create(self, request: web.Request) -> web.Response:
        table = request.match_info["table"]
        records = self._table(request)
        if records is None:
            return self.error(400, f"Invalid table {table}")
        body = await read_json(request)
        if not isinstance(body, dict):
            return self.error(400, "Exception while reading request", code="bad_json")
        mandatory = {
            "customer_contact": "last_name",
            "sys_user": "last_name",
            "customer_account": "name",
            "incident": "short_description",
            "sn_customerservice_case": "short_description",
        }.get(table)
        if mandatory and not body.get(mandatory):
            return self.json(
                {
                    "error": {
                        "message": "Operation Failed",
                        "detail": f"Data Policy Exception: \n\tThe following fields are mandatory:"
                        f" {mandatory.replace('_', ' ').title()}\n",
                    },
                    "status": "failure",
                },
                status=403,
            )
        known = {k: str(v) for k, v in body.items() if isinstance(v, str | int | float | bool)}
        record = self.add(table, **known)
        return self.json(
            {"result": self._render(request, table, record)},
            status=201,
            headers={"Location": str(request.url.with_path(f"{request.path}/{record['sys_id']}"))},
        )


__all__ = ["Condition", "ServiceNowFake", "parse_encoded_query"]
