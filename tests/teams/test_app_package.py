"""The Teams app package: what an admin sideloads must be valid for each environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.adapters.storage.local import LocalStore
from bot.adapters.teams.app_package import (
    MANIFEST_DIR,
    SCHEMA_PATH,
    SCHEMA_VERSION,
    AppPackageError,
    ManifestSchemaError,
    build_app_package,
    validate_manifest,
)
from bot.adapters.teams.sso import SsoValidator, sso_audiences
from bot.cli.package import add_arguments, package_command
from bot.services.audit import Actor, Door
from bot.services.crm_configs import CrmConfigs
from bot.services.secret_box import SecretBox
from bot.settings import Settings
from bot.web.console import console_config
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import TENANT_A, authority, sso_token
from tests.tickets.fakes.zendesk_exports import zendesk_config

BOT_ID = "11111111-2222-4333-8444-555555555555"
SSO_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
PACKAGE_ID = "01234567-89ab-4cde-8f01-23456789abcd"
BASE_URL = "https://crmcard.contoso.example/"


def _build(tmp_path: Path, **overrides: Any) -> Path:
    kwargs: dict[str, Any] = {
        "bot_app_id": BOT_ID,
        "sso_app_id": SSO_ID,
        "base_url": BASE_URL,
        "version": "1.4.2",
        "output": tmp_path / "crmcard.zip",
        "app_id": PACKAGE_ID,
    }
    kwargs.update(overrides)
    return build_app_package(**kwargs)


def _manifest(package: Path) -> dict[str, Any]:
    with zipfile.ZipFile(package) as zf:
        manifest: dict[str, Any] = json.loads(zf.read("manifest.json"))
    return manifest


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return _build(tmp_path)


def test_zip_holds_exactly_manifest_and_icons_at_root(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        assert sorted(zf.namelist()) == [
            "color.png",
            "de.json",
            "fr.json",
            "manifest.json",
            "outline.png",
        ]
        assert zf.testzip() is None


def test_built_manifest_validates_against_newest_stable_schema(package: Path) -> None:
    manifest = _manifest(package)
    assert manifest["manifestVersion"] == SCHEMA_VERSION
    assert manifest["$schema"].endswith(f"/v{SCHEMA_VERSION}/MicrosoftTeams.schema.json")
    validate_manifest(manifest)  # raises on any violation


def test_german_and_french_texts_validate_against_the_localization_schema(package: Path) -> None:
    manifest = _manifest(package)
    languages = {
        e["languageTag"]: e["file"] for e in manifest["localizationInfo"]["additionalLanguages"]
    }
    assert languages == {"de": "de.json", "fr": "fr.json"}
    assert manifest["localizationInfo"]["defaultLanguageTag"] == "en-us"
    schema = SCHEMA_PATH.with_name("MicrosoftTeams.Localization.schema.json")
    with zipfile.ZipFile(package) as zf:
        german, french = (json.loads(zf.read(languages[tag])) for tag in ("de", "fr"))
    for texts in (german, french):
        validate_manifest(texts, schema_path=schema, file="texts.json")
        assert texts["name.short"] == "crmcard"
        assert texts["$schema"].endswith(
            f"/v{SCHEMA_VERSION}/MicrosoftTeams.Localization.schema.json"
        )
    commands = "bots[0].commandLists[0].commands[{}].title"
    assert [german[commands.format(n)] for n in range(3)] == ["hilfe", "karte", "karten"]
    assert [french[commands.format(n)] for n in range(3)] == ["aide", "carte", "cartes"]
    assert german["staticTabs[0].name"] == "Kundenkarte"
    assert french["description.short"].startswith("La carte client")
    with pytest.raises(ManifestSchemaError, match=r"texts\.json .*localization"):
        validate_manifest({**german, "name.shrot": "x"}, schema_path=schema, file="texts.json")


def test_schema_used_is_the_newest_stable_one_shipped() -> None:
    shipped = [
        tuple(int(n) for n in p.name[1:].split("."))
        for p in SCHEMA_PATH.parent.parent.iterdir()
        if p.name[1:2].isdigit()
    ]
    assert max(shipped) == tuple(int(n) for n in SCHEMA_VERSION.split("."))


def test_environment_values_are_filled_in(package: Path) -> None:
    manifest = _manifest(package)
    text = json.dumps(manifest)
    assert "${{" not in text
    assert manifest["id"] == PACKAGE_ID
    assert manifest["version"] == "1.4.2"
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["webApplicationInfo"] == {
        "id": SSO_ID,
        "resource": f"api://crmcard.contoso.example/{SSO_ID}",
    }
    assert "crmcard.contoso.example" in manifest["validDomains"]


def test_bot_tabs_and_side_panel(package: Path) -> None:
    manifest = _manifest(package)
    bot = manifest["bots"][0]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert bot["supportsFiles"] is False
    (commands,) = bot["commandLists"]
    assert commands["scopes"] == ["personal"]
    assert {c["title"] for c in commands["commands"]} == {"help", "card", "cards", "language"}

    card_tab = next(t for t in manifest["staticTabs"] if t.get("name") == "Customer card")
    assert card_tab["contentUrl"] == "https://crmcard.contoso.example/tab"
    admin_tab = next(t for t in manifest["staticTabs"] if t.get("name") == "Admin")
    assert admin_tab["contentUrl"] == "https://crmcard.contoso.example/admin"
    assert card_tab["scopes"] == ["personal"]

    (panel,) = manifest["configurableTabs"]
    assert panel["configurationUrl"] == "https://crmcard.contoso.example/tab/config"
    assert {"meetingSidePanel", "privateChatTab", "meetingChatTab"} <= set(panel["context"])
    assert "groupChat" in panel["scopes"]


def test_base_url_with_port_and_path(tmp_path: Path) -> None:
    manifest = _manifest(_build(tmp_path, base_url="https://dev.example.net:8443/crm/"))
    assert manifest["staticTabs"][0]["contentUrl"] == "https://dev.example.net:8443/crm/tab"
    assert "dev.example.net:8443" in manifest["validDomains"]
    assert manifest["webApplicationInfo"]["resource"] == f"api://dev.example.net/{SSO_ID}"


def test_package_id_is_stable_per_bot_when_not_given(tmp_path: Path) -> None:
    first = _manifest(_build(tmp_path, app_id=None, output=tmp_path / "a.zip"))
    again = _manifest(_build(tmp_path, app_id=None, output=tmp_path / "b.zip"))
    other_bot = "99999999-2222-4333-8444-555555555555"
    other = _manifest(
        _build(tmp_path, app_id=None, bot_app_id=other_bot, output=tmp_path / "c.zip")
    )
    assert first["id"] == again["id"] != other["id"]
    assert first["id"] != BOT_ID


def test_output_directory_gets_versioned_file_name(tmp_path: Path) -> None:
    out = tmp_path / "build"
    assert _build(tmp_path, output=out) == out / "crmcard-1.4.2.zip"
    assert (out / "crmcard-1.4.2.zip").is_file()


def test_broken_manifest_fails_with_readable_violations(package: Path) -> None:
    manifest = _manifest(package)
    manifest["bots"][0]["botId"] = "not-a-guid"
    manifest["accentColor"] = "blue"
    del manifest["developer"]
    with pytest.raises(ManifestSchemaError) as excinfo:
        validate_manifest(manifest)
    message = str(excinfo.value)
    assert len(excinfo.value.violations) == 3
    assert "$.bots[0].botId: 'not-a-guid' does not match" in message
    assert "$.accentColor: 'blue' does not match" in message
    assert "'developer' is a required property" in message


def test_broken_template_fails_the_build(tmp_path: Path) -> None:
    manifest_dir = tmp_path / "manifest"
    shutil.copytree(MANIFEST_DIR, manifest_dir)
    template = manifest_dir / "manifest.template.json"
    data = json.loads(template.read_text())
    data["staticTabs"][0]["scopes"] = ["everywhere"]
    template.write_text(json.dumps(data))
    with pytest.raises(ManifestSchemaError, match=r"\$\.staticTabs\[0\]\.scopes\[0\]"):
        _build(tmp_path, manifest_dir=manifest_dir)
    assert not (tmp_path / "crmcard.zip").exists()


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("bot_app_id", "my-bot", "bot app id"),
        ("sso_app_id", "", "SSO app id"),
        ("app_id", "x", "app package id"),
        ("version", "1.0", "semver"),
        ("base_url", "http://crmcard.contoso.example", "https://"),
        ("base_url", "crmcard.contoso.example", "https://"),
    ],
)
def test_bad_inputs_are_refused_clearly(
    tmp_path: Path, field: str, value: str, fragment: str
) -> None:
    with pytest.raises(AppPackageError, match=fragment):
        _build(tmp_path, **{field: value})


def test_missing_schema_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(AppPackageError, match="npm install"):
        _build(tmp_path, schema_path=tmp_path / "nope.schema.json")


def test_wrong_icon_size_is_refused(tmp_path: Path) -> None:
    manifest_dir = tmp_path / "manifest"
    shutil.copytree(MANIFEST_DIR, manifest_dir)
    Image.new("RGBA", (64, 64)).save(manifest_dir / "outline.png")
    with pytest.raises(AppPackageError, match=r"outline\.png must be 32x32"):
        _build(tmp_path, manifest_dir=manifest_dir)


def test_icons_have_teams_sizes(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        with zf.open("color.png") as f, Image.open(f) as color:
            assert color.size == (192, 192)
            assert len(set(color.convert("RGB").getcolors(192 * 192) or [])) > 1
        with zf.open("outline.png") as f, Image.open(f) as outline:
            assert outline.size == (32, 32)


def test_outline_icon_is_only_white_and_transparent(package: Path) -> None:
    with zipfile.ZipFile(package) as zf, zf.open("outline.png") as f, Image.open(f) as img:
        rgba = img.convert("RGBA")
        pixels = [rgba.getpixel((x, y)) for x in range(32) for y in range(32)]
    white = (255, 255, 255)
    offending = [p for p in pixels if isinstance(p, tuple) and p[3] != 0 and p[:3] != white]
    assert not offending, f"outline icon has non-white visible pixels: {offending[:5]}"
    assert any(isinstance(p, tuple) and p[3] == 0 for p in pixels), "needs transparency"
    assert any(isinstance(p, tuple) and p[3] == 255 for p in pixels), "needs a visible glyph"


def _cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="crmcard package")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_package_command_builds_into_output_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _cli_args(
        "--bot-app-id", BOT_ID, "--base-url", BASE_URL, "--version", "2.0.1",
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert package_command(args) == 0
    zip_path = tmp_path / "out" / "crmcard-2.0.1.zip"
    assert capsys.readouterr().out.strip() == str(zip_path)
    manifest = _manifest(zip_path)
    assert manifest["webApplicationInfo"]["id"] == BOT_ID  # SSO app defaults to the bot app


def test_package_command_reports_errors_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _cli_args("--bot-app-id", "nope", "--base-url", BASE_URL, "--output", str(tmp_path))
    assert package_command(args) == 1
    assert "bot app id must be" in capsys.readouterr().err


def test_package_command_takes_the_sso_app_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sso = "99999999-8888-4777-8666-555555555555"
    monkeypatch.setenv("CRMCARD_SSO_CLIENT_ID", sso)
    args = _cli_args("--bot-app-id", BOT_ID, "--base-url", BASE_URL, "--output", str(tmp_path))
    assert package_command(args) == 0
    manifest = _manifest(tmp_path / "crmcard-1.0.0.zip")
    assert manifest["webApplicationInfo"]["id"] == sso


async def _store_zendesk(data_dir: Path, key: str) -> None:
    store = LocalStore(data_dir / "state.sqlite3")
    try:
        config = zendesk_config("https://contoso.zendesk.com")
        await CrmConfigs(store, SecretBox.from_setting(key)).create(config, Actor("t", Door.cli))
    finally:
        await store.close()


def test_package_command_unfurls_the_links_of_a_tenants_crms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--links-of-tenant`` reads the tenant's CRMs from the store the settings name."""
    key = SecretBox.new_key()
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRMCARD_SECRET_KEY", key)
    (tmp_path / "data").mkdir()
    asyncio.run(_store_zendesk(tmp_path / "data", key))
    args = _cli_args(
        "--bot-app-id", BOT_ID, "--base-url", BASE_URL, "--output", str(tmp_path),
        "--links-of-tenant", "demo-tenant",
    )  # fmt: skip
    assert package_command(args) == 0
    manifest = _manifest(tmp_path / "crmcard-1.0.0.zip")
    [extension] = manifest["composeExtensions"]
    domains = [h for handler in extension["messageHandlers"] for h in handler["value"]["domains"]]
    assert "contoso.zendesk.com" in domains


@pytest.mark.parametrize(
    "public_url",
    [
        "https://crmcard.contoso.example",
        "https://dev.example.net:8443/crm/",  # a port: Teams' resource names the host alone
        "https://CRMCard.Contoso.Example",  # spelled in capitals: host names are not
    ],
)
async def test_the_packages_sso_resource_is_the_audience_the_server_accepts(
    tmp_path: Path, issuer: LocalIssuer, public_url: str
) -> None:
    """Teams asks Entra for a token of ``webApplicationInfo.resource`` (the Application ID
    URI registered for the SSO app), and Entra puts that URI in ``aud``: the tab, the bot's
    sign-in and the admin console must accept and ask for the very same URI, or every SSO
    sign-in of a deployment whose public URL has a port or capitals is refused."""
    manifest = _manifest(_build(tmp_path, base_url=public_url))
    resource = manifest["webApplicationInfo"]["resource"]
    validator = SsoValidator(
        metadata_url=issuer.metadata_url,
        authority=authority(issuer),
        audiences=sso_audiences(SSO_ID, public_url),
    )
    agent = await validator.validate(sso_token(issuer, audience=resource))
    assert agent.tenant_id == TENANT_A
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        app_id=BOT_ID,
        sso_client_id=SSO_ID,
        public_url=public_url,
    )
    assert console_config(settings)["scopes"] == [f"{resource}/access_as_user"]
