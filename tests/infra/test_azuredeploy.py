"""The ARM template in ``infra/`` stays deployable-looking and in step with ``bot/settings.py``.

No Azure here: these are structural checks of the template (ARM's own validation happens
on ``az deployment group validate``), plus a parse of its literal app settings by the real
``Settings`` class, so a renamed or retyped setting fails here rather than in production.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices

from bot.settings import AppType, Settings, StoreKind

INFRA = Path(__file__).resolve().parents[2] / "infra"
TEMPLATE_PATH = INFRA / "azuredeploy.json"
STARTUP = INFRA / "startup.sh"

PARAMETER_REF = re.compile(r"parameters\('([^']+)'\)")
SECRET_SETTINGS = {
    "CRMCARD_SECRET_KEY",
    "CRMCARD_API_KEYS",
    "CRMCARD_ADMIN_KEYS",
    "CRMCARD_SSO_CLIENT_SECRET",
    "CRMCARD_BLOB_CONNECTION_STRING",
    "CRMCARD_WRITEBACK_QUEUE_CONNECTION_STRING",
    "MicrosoftAppPassword",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))
    return loaded


def strings(node: Any) -> Iterator[str]:
    """Every string in the template, keys included (ARM expressions can sit in keys)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["resources"] if r["type"].lower() == kind.lower()]


def one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def site_settings(template: dict[str, Any]) -> dict[str, str]:
    site = one(template, "Microsoft.Web/sites")
    entries = site["properties"]["siteConfig"]["appSettings"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), "an app setting is set twice"
    return {entry["name"]: entry["value"] for entry in entries}


def parameter_of(value: str) -> str | None:
    """``[parameters('x')]`` -> ``x``; anything else -> None."""
    match = re.fullmatch(r"\[parameters\('([^']+)'\)\]", value)
    return match.group(1) if match else None


def accepted_environment_names() -> set[str]:
    """Environment names ``Settings`` reads: ``CRMCARD_<FIELD>`` or a field's aliases."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


# --- a small evaluator of ARM template expressions --------------------------------------
# Enough of the language for this template: string/number literals, function calls, `.x`
# and `[i]` access. Deployment-time functions (reference, listKeys ...) return stand-ins.

FAKE_TENANT = "11111111-1111-1111-1111-111111111111"
FAKE_CLIENT_ID = "22222222-2222-2222-2222-222222222222"
FAKE_PRINCIPAL_ID = "44444444-4444-4444-4444-444444444444"
FAKE_ACCOUNT_KEY = "ZmFrZS1hY2NvdW50LWtleQ=="
TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(.))")


class Arm:
    def __init__(self, template: dict[str, Any], parameters: dict[str, Any]) -> None:
        self.template = template
        self.parameters = parameters
        self.variables: dict[str, Any] = {}

    def parameter(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        definition = self.template["parameters"][name]
        assert "defaultValue" in definition, f"parameter {name} needs a value"
        return self.value(definition["defaultValue"])

    def variable(self, name: str) -> Any:
        if name not in self.variables:
            self.variables[name] = self.value(self.template["variables"][name])
        return self.variables[name]

    def value(self, node: Any) -> Any:
        """A template node with every expression in it evaluated."""
        if isinstance(node, dict):
            return {self.value(k): self.value(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if isinstance(node, str) and node.startswith("[") and not node.startswith("[["):
            assert node.endswith("]"), node
            return self.expression(node[1:-1])
        return node

    def expression(self, text: str) -> Any:
        tokens = [m for m in TOKEN.finditer(text) if m.group(0).strip()]
        position = 0

        def peek() -> str:
            return tokens[position].group(0).strip() if position < len(tokens) else ""

        def take(expected: str | None = None) -> re.Match[str]:
            nonlocal position
            token = tokens[position]
            assert expected is None or token.group(0).strip() == expected, (text, expected)
            position += 1
            return token

        def parse() -> Any:
            token = take()
            if token.group(1):
                result: Any = token.group(1)[1:-1].replace("''", "'")
            elif token.group(2):
                result = int(token.group(2))
            elif token.group(3):
                take("(")
                args: list[Any] = []
                while peek() != ")":
                    args.append(parse())
                    if peek() == ",":
                        take(",")
                take(")")
                result = self.call(token.group(3), args)
            else:
                raise AssertionError(f"unexpected {token.group(0)!r} in {text}")
            while peek() in (".", "["):
                if take().group(0).strip() == ".":
                    result = result[take().group(3)]
                else:
                    result = result[parse()]
                    take("]")
            return result

        result = parse()
        assert position == len(tokens), f"trailing tokens in {text}"
        return result

    def call(self, name: str, args: list[Any]) -> Any:
        functions: dict[str, Any] = {
            "parameters": self.parameter,
            "variables": self.variable,
            "format": lambda f, *a: re.sub(r"\{(\d+)\}", lambda m: str(a[int(m[1])]), f),
            "concat": lambda *a: "".join(str(x) for x in a),
            "if": lambda c, a, b: a if c else b,
            "equals": lambda a, b: a == b,
            "empty": lambda x: not x,
            "toLower": lambda x: x.lower(),
            "uniqueString": lambda *a: hashlib.sha256("/".join(a).encode()).hexdigest()[:13],
            "resourceGroup": lambda: {
                "id": "/subscriptions/s/resourceGroups/rg",
                "location": "westeurope",
            },
            "subscription": lambda: {"tenantId": FAKE_TENANT, "subscriptionId": "s"},
            "environment": lambda: {"suffixes": {"storage": "core.windows.net"}},
            "resourceId": lambda kind, *names: self.resource_id(kind, names),
            "reference": lambda rid, *_: self.reference(rid),
            "listKeys": lambda rid, *_: {"keys": [{"value": FAKE_ACCOUNT_KEY}]},
        }
        assert name in functions, f"no stand-in for ARM function {name}()"
        return functions[name](*args)

    @staticmethod
    def resource_id(kind: str, names: tuple[str, ...]) -> str:
        namespace, *types = kind.split("/")
        assert len(types) == len(names), f"resourceId({kind}) needs {len(types)} names"
        path = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
        return f"/subscriptions/s/resourceGroups/rg/providers/{namespace}/{path}"

    def reference(self, rid: str) -> dict[str, Any]:
        if "/Microsoft.ManagedIdentity/userAssignedIdentities/" in rid:
            return {
                "clientId": FAKE_CLIENT_ID,
                "tenantId": FAKE_TENANT,
                "principalId": FAKE_PRINCIPAL_ID,
            }
        raise AssertionError(f"no stand-in for reference({rid})")


PARAMETER_VALUES: dict[str, Any] = {
    "secretKey": base64.b64encode(bytes(range(32))).decode(),
    "apiKeys": json.dumps({"tenant-a": "key-a"}),
    "adminKeys": json.dumps({"tenant-a": "admin-a"}),
    "ssoClientId": "33333333-3333-3333-3333-333333333333",
    "ssoClientSecret": "sso-secret",
}


@pytest.fixture(scope="module", params=["Standard", "Premium"])
def deployed(template: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The template with every expression evaluated for PARAMETER_VALUES, the state container
    in each kind of account (``stateStorage``); resources whose condition is false are left
    out, as ARM leaves them undeployed."""
    arm = Arm(template, {**PARAMETER_VALUES, "stateStorage": request.param})
    evaluated = [arm.value(resource) for resource in template["resources"]]
    return {
        "stateStorage": request.param,
        "resources": [r for r in evaluated if r.pop("condition", True)],
        "outputs": {name: arm.value(o["value"]) for name, o in template["outputs"].items()},
        "variables": {name: arm.variable(name) for name in template["variables"]},
    }


def test_template_header(template: dict[str, Any]) -> None:
    assert template["$schema"].startswith("https://schema.management.azure.com/schemas/")
    assert template["$schema"].endswith("/deploymentTemplate.json#")
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", template["contentVersion"])
    assert isinstance(template["resources"], list) and template["resources"]


def test_every_resource_has_type_api_version_and_name(template: dict[str, Any]) -> None:
    for resource in template["resources"]:
        assert re.fullmatch(r"[A-Za-z]+\.[A-Za-z]+(/[A-Za-z]+)+", resource.get("type", "")), (
            resource
        )
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", resource.get("apiVersion", "")), (
            resource["type"]
        )
        assert resource.get("name"), resource["type"]


def test_expected_resources_are_there(template: dict[str, Any]) -> None:
    for kind in (
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.BotService/botServices",
        "Microsoft.BotService/botServices/channels",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/blobServices/containers",
        "Microsoft.Storage/storageAccounts/queueServices/queues",
        "Microsoft.Web/serverfarms",
        "Microsoft.Web/sites",
    ):
        assert resources(template, kind), kind


def test_parameters_used_are_declared_and_declared_are_used(template: dict[str, Any]) -> None:
    declared = set(template["parameters"])
    used: set[str] = set()
    for key in ("variables", "resources", "outputs"):
        for text in strings(template.get(key, {})):
            used.update(PARAMETER_REF.findall(text))
    # a parameter's default may refer to another parameter
    for definition in template["parameters"].values():
        used.update(PARAMETER_REF.findall(json.dumps(definition.get("defaultValue", ""))))
    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but never used"


def test_variables_used_are_declared(template: dict[str, Any]) -> None:
    declared = set(template.get("variables", {}))
    used: set[str] = set()
    for text in strings([template["resources"], template["outputs"], template["variables"]]):
        used.update(re.findall(r"variables\('([^']+)'\)", text))
    assert used - declared == set()


def test_expressions_are_balanced(template: dict[str, Any]) -> None:
    for text in strings(template):
        if text.startswith("[") and text.endswith("]") and not text.startswith("[["):
            body = re.sub(r"'(?:[^']|'')*'", "''", text[1:-1])  # drop string literals
            assert body.count("(") == body.count(")"), text
            assert body.count("[") == body.count("]"), text


def test_app_settings_match_the_settings_class(template: dict[str, Any]) -> None:
    accepted = accepted_environment_names()
    assert "CRMCARD_BLOB_CONNECTION_STRING" in accepted  # the derivation itself is sound
    assert "MicrosoftAppId" in accepted
    ours = [
        name
        for name in site_settings(template)
        if name.startswith("CRMCARD_") or name.startswith("Microsoft")
    ]
    unknown = sorted(set(ours) - accepted)
    assert not unknown, f"app settings bot/settings.py does not read: {unknown}"


def test_production_settings_are_set(template: dict[str, Any]) -> None:
    settings = site_settings(template)
    for name in (
        "MicrosoftAppType",
        "MicrosoftAppId",
        "MicrosoftAppTenantId",
        "CRMCARD_STORE",
        "CRMCARD_BLOB_CONNECTION_STRING",
        "CRMCARD_WRITEBACK_QUEUE_CONNECTION_STRING",
        "CRMCARD_PUBLIC_URL",
        "CRMCARD_HOST",
        "CRMCARD_PORT",
        "CRMCARD_DEMO_CRM",
        "CRMCARD_DEMO_COMMANDS",
        "CRMCARD_SECRET_KEY",
        "CRMCARD_API_KEYS",
        "CRMCARD_ADMIN_KEYS",
        "CRMCARD_SSO_CLIENT_ID",
        "CRMCARD_SSO_CLIENT_SECRET",
    ):
        assert name in settings, name
    assert "MicrosoftAppPassword" not in settings  # the managed identity has no secret
    assert "listKeys(" in settings["CRMCARD_BLOB_CONNECTION_STRING"]
    assert "listKeys(" in settings["CRMCARD_WRITEBACK_QUEUE_CONNECTION_STRING"]
    assert settings["CRMCARD_PORT"] == settings.get("WEBSITES_PORT", "8000")


def evaluated(deployed: dict[str, Any], kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in deployed["resources"] if r["type"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def test_every_expression_evaluates(deployed: dict[str, Any]) -> None:
    """Every expression parses, uses known functions, and names resolve (see Arm)."""
    for text in strings(deployed):
        assert not (text.startswith("[") and text.endswith("]")), text


def test_app_settings_parse_as_production(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The web app's settings, evaluated, through the real Settings class."""
    site = evaluated(deployed, "Microsoft.Web/sites")
    app_settings = {e["name"]: e["value"] for e in site["properties"]["siteConfig"]["appSettings"]}
    for name in list(os.environ):
        if name.upper().startswith(("CRMCARD_", "MICROSOFTAPP")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, value in app_settings.items():
        assert isinstance(value, str), name  # App Service settings are strings
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.app_type in (AppType.user_assigned_msi, AppType.single_tenant)
    assert settings.app_id == FAKE_CLIENT_ID
    assert settings.app_tenant_id == FAKE_TENANT
    assert settings.authenticated
    assert settings.store is StoreKind.blob
    blob = settings.blob_connection_string.get_secret_value()
    queue = settings.writeback_queue_connection_string.get_secret_value()
    container = evaluated(deployed, "Microsoft.Storage/storageAccounts/blobServices/containers")
    queue_resource = evaluated(deployed, "Microsoft.Storage/storageAccounts/queueServices/queues")
    for connection_string, child in ((blob, container), (queue, queue_resource)):
        parts = dict(p.split("=", 1) for p in connection_string.split(";"))
        assert parts["DefaultEndpointsProtocol"] == "https"
        assert parts["AccountKey"] == FAKE_ACCOUNT_KEY
        assert parts["AccountName"] == child["name"].split("/")[0]  # the account holding it
    assert settings.host == "0.0.0.0"
    assert settings.port == 8000
    assert settings.public_url.startswith("https://")
    assert settings.demo_crm is False
    assert settings.demo_commands is False
    assert settings.secret_key.get_secret_value() == PARAMETER_VALUES["secretKey"]
    assert {k: v.get_secret_value() for k, v in settings.api_keys.items()} == {"tenant-a": "key-a"}
    assert set(settings.admin_keys) == {"tenant-a"}
    assert settings.sso_app_id == PARAMETER_VALUES["ssoClientId"] != settings.app_id
    assert settings.sso_secret == "sso-secret"


def test_secrets_are_securestring_parameters_without_defaults(template: dict[str, Any]) -> None:
    parameters = template["parameters"]
    for name, value in site_settings(template).items():
        if name not in SECRET_SETTINGS:
            continue
        param = parameter_of(value)
        if param is None:  # derived (listKeys): must not be a literal secret
            assert value.startswith("[") and "listKeys(" in value, name
            continue
        assert parameters[param]["type"] == "securestring", name
        assert "defaultValue" not in parameters[param], name
    for name, definition in parameters.items():
        if definition["type"].lower() in ("securestring", "secureobject"):
            assert "defaultValue" not in definition, name
    # secrets never leave through outputs
    secure = {n for n, d in parameters.items() if d["type"].lower().startswith("secure")}
    for output in template.get("outputs", {}).values():
        assert not set(PARAMETER_REF.findall(json.dumps(output))) & secure
        assert "listKeys(" not in json.dumps(output)


def test_parameters_are_described(template: dict[str, Any]) -> None:
    for name, definition in template["parameters"].items():
        assert definition.get("metadata", {}).get("description"), name


def test_bot_registration(template: dict[str, Any], deployed: dict[str, Any]) -> None:
    bot = evaluated(deployed, "Microsoft.BotService/botServices")
    props = bot["properties"]
    assert bot["kind"] == "azurebot"
    assert bot["location"] == "global"
    assert props["msaAppType"] in ("UserAssignedMSI", "SingleTenant")  # never MultiTenant
    assert props["msaAppTenantId"] == FAKE_TENANT
    if props["msaAppType"] == "UserAssignedMSI":
        assert props["msaAppId"] == FAKE_CLIENT_ID
        assert props["msaAppMSIResourceId"].endswith(
            f"/Microsoft.ManagedIdentity/userAssignedIdentities/{deployed['variables']['identityName']}"
        )
    site = evaluated(deployed, "Microsoft.Web/sites")
    assert props["endpoint"] == f"https://{site['name']}.azurewebsites.net/api/messages"
    # the web app runs as the bot: same identity, app id, tenant and app type
    app_settings = {e["name"]: e["value"] for e in site["properties"]["siteConfig"]["appSettings"]}
    assert app_settings["MicrosoftAppId"] == props["msaAppId"]
    assert app_settings["MicrosoftAppTenantId"] == props["msaAppTenantId"]
    assert app_settings["MicrosoftAppType"] == props["msaAppType"]
    assert list(site["identity"]["userAssignedIdentities"]) == [props["msaAppMSIResourceId"]]
    assert app_settings["CRMCARD_PUBLIC_URL"] + "/api/messages" == props["endpoint"]


def test_custom_host_name_moves_endpoint_and_public_url(template: dict[str, Any]) -> None:
    arm = Arm(template, {**PARAMETER_VALUES, "publicHostName": "crm.contoso.com"})
    assert arm.variable("botEndpoint") == "https://crm.contoso.com/api/messages"
    assert arm.variable("publicUrl") == "https://crm.contoso.com"


def test_teams_channel(deployed: dict[str, Any]) -> None:
    bot = evaluated(deployed, "Microsoft.BotService/botServices")
    channels = [
        r for r in deployed["resources"] if r["type"] == "Microsoft.BotService/botServices/channels"
    ]
    teams = [c for c in channels if c["properties"]["channelName"] == "MsTeamsChannel"]
    assert len(teams) == 1
    assert teams[0]["name"] == f"{bot['name']}/MsTeamsChannel"
    assert teams[0]["properties"]["properties"]["isEnabled"] is True


def by_name(deployed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The deployed resources of ``kind`` by name (:func:`evaluated` for one)."""
    return {r["name"]: r for r in deployed["resources"] if r["type"] == kind}


def test_resource_names_are_valid(deployed: dict[str, Any]) -> None:
    accounts = by_name(deployed, "Microsoft.Storage/storageAccounts")
    for name in accounts:
        assert re.fullmatch(r"[a-z0-9]{3,24}", name), name
    site = evaluated(deployed, "Microsoft.Web/sites")
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,58}[a-z0-9]", site["name"]), site["name"]
    bot = evaluated(deployed, "Microsoft.BotService/botServices")
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,63}", bot["name"]), bot["name"]
    container = evaluated(deployed, "Microsoft.Storage/storageAccounts/blobServices/containers")
    queue = evaluated(deployed, "Microsoft.Storage/storageAccounts/queueServices/queues")
    for child in (container, queue):
        account_name, default, name = child["name"].split("/")
        assert account_name in accounts and default == "default"
        assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]", name), name


def test_depends_on_points_at_resources_in_the_template(deployed: dict[str, Any]) -> None:
    ids = {Arm.resource_id(r["type"], tuple(r["name"].split("/"))) for r in deployed["resources"]}
    for resource in deployed["resources"]:
        for dependency in resource.get("dependsOn", []):
            assert dependency in ids, (resource["type"], dependency)


def test_storage_is_locked_down(template: dict[str, Any]) -> None:
    for account in resources(template, "Microsoft.Storage/storageAccounts"):
        props = account["properties"]
        assert account["kind"] in ("StorageV2", "BlockBlobStorage")
        assert props["allowBlobPublicAccess"] is False
        assert props["minimumTlsVersion"] == "TLS1_2"
        assert props["supportsHttpsTrafficOnly"] is True
    for container in resources(
        template, "Microsoft.Storage/storageAccounts/blobServices/containers"
    ):
        assert container.get("properties", {}).get("publicAccess", "None") == "None"


def test_state_container_is_in_the_chosen_account(deployed: dict[str, Any]) -> None:
    """Standard: the state container and the write-back queue share the general-purpose
    account. Premium: the container is in a premium block blob account of its own (no
    access tier there: Premium has none; queues only exist in general-purpose accounts),
    with the same soft delete; the queue stays where it was, so switching moves no queue.
    https://learn.microsoft.com/azure/storage/blobs/storage-feature-support-in-storage-accounts
    """
    accounts = by_name(deployed, "Microsoft.Storage/storageAccounts")
    container = evaluated(deployed, "Microsoft.Storage/storageAccounts/blobServices/containers")
    queue = evaluated(deployed, "Microsoft.Storage/storageAccounts/queueServices/queues")
    state = accounts[container["name"].split("/")[0]]
    queue_account = accounts[queue["name"].split("/")[0]]
    assert queue_account["kind"] == "StorageV2"
    assert queue_account["name"] == deployed["variables"]["storageAccountName"]
    if deployed["stateStorage"] == "Standard":
        assert list(accounts) == [queue_account["name"]]
    else:
        assert len(accounts) == 2 and state is not queue_account
        assert (state["kind"], state["sku"]["name"]) == ("BlockBlobStorage", "Premium_LRS")
        assert "accessTier" not in state["properties"]
    services = by_name(deployed, "Microsoft.Storage/storageAccounts/blobServices")
    retention = services[f"{state['name']}/default"]["properties"]["deleteRetentionPolicy"]
    assert retention == {"enabled": True, "days": 7}


def test_container_and_queue_are_the_ones_the_app_uses(template: dict[str, Any]) -> None:
    settings = site_settings(template)
    container = one(template, "Microsoft.Storage/storageAccounts/blobServices/containers")
    queue = one(template, "Microsoft.Storage/storageAccounts/queueServices/queues")
    container_param = parameter_of(settings["CRMCARD_BLOB_CONTAINER"])
    queue_param = parameter_of(settings["CRMCARD_WRITEBACK_QUEUE_NAME"])
    assert container_param and f"parameters('{container_param}')" in container["name"]
    assert queue_param and f"parameters('{queue_param}')" in queue["name"]
    defaults = Settings.model_fields
    assert template["parameters"][container_param]["defaultValue"] == (
        defaults["blob_container"].default
    )
    assert template["parameters"][queue_param]["defaultValue"] == (
        defaults["writeback_queue_name"].default
    )


def test_web_app(template: dict[str, Any]) -> None:
    plan = one(template, "Microsoft.Web/serverfarms")
    assert plan["properties"]["reserved"] is True  # Linux
    site = one(template, "Microsoft.Web/sites")
    props = site["properties"]
    config = props["siteConfig"]
    assert "linux" in site["kind"]
    assert props["httpsOnly"] is True
    assert config["linuxFxVersion"] == "PYTHON|3.11"
    assert config["alwaysOn"] is True
    assert config["ftpsState"] == "Disabled"
    assert config["healthCheckPath"] == "/healthz"
    assert "infra/startup.sh" in config["appCommandLine"]
    assert site["identity"]["type"] == "UserAssigned"
    (identity_ref,) = site["identity"]["userAssignedIdentities"]
    bot = one(template, "Microsoft.BotService/botServices")
    assert identity_ref.strip("[]") == bot["properties"]["msaAppMSIResourceId"].strip("[]")


def test_routes_the_template_relies_on_exist() -> None:
    """Bot endpoint and health check path are routes the app registers."""
    from bot.web.app import create_app

    settings = Settings(_env_file=None)
    app = create_app(settings)
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    assert ("POST", "/api/messages") in routes
    assert ("GET", "/healthz") in routes


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["outputs"]
    for name in ("botEndpoint", "siteUrl", "identityClientId"):
        assert outputs[name]["type"] == "string"
        assert outputs[name]["value"]


def test_startup_script_is_executable_and_serves() -> None:
    assert os.access(STARTUP, os.X_OK)
    text = STARTUP.read_text(encoding="utf-8")
    assert text.startswith("#!")
    assert "pip install --no-cache-dir ." in text
    last = [line.strip() for line in text.splitlines() if line.strip()][-1]
    assert last == "exec python -m bot serve"
    subprocess.run(["bash", "-n", str(STARTUP)], check=True)


def test_startup_script_is_executable_in_git() -> None:
    """The exec bit must survive a clone, not just sit in this working tree."""
    result = subprocess.run(
        ["git", "ls-files", "--stage", "--", "infra/startup.sh"],
        cwd=INFRA.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout:
        pytest.skip("not in a git checkout, or startup.sh not committed yet")
    assert result.stdout.split()[0] == "100755"
