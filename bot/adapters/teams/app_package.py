"""Build the sideloadable Teams app package (manifest.json, two icons, de/fr texts, zipped).

Per-environment values (bot id, SSO app id, public URL, version, package id) are
filled into ``teams_manifest/manifest.template.json`` here, never edited by hand, and
the result is checked against the official JSON schema from ``@microsoft/app-manifest``
so a broken package fails on the build machine instead of in the Teams admin center.
The German and French files named by the manifest's ``localizationInfo`` are written from
crmcard's catalogues (:mod:`bot.i18n.manifest`) and checked against the localization schema.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.adapters.teams.sso import application_id_uri
from bot.errors import ServerError
from bot.i18n import manifest as manifest_texts

if TYPE_CHECKING:
    from jsonschema import ValidationError

REPO_ROOT = Path(__file__).resolve().parents[3]
MANIFEST_DIR = REPO_ROOT / "teams_manifest"
TEMPLATE_NAME = "manifest.template.json"
SCHEMA_VERSION = "1.30"
SCHEMA_PATH = (
    REPO_ROOT
    / "node_modules/@microsoft/app-manifest/build/json-schemas/teams"
    / f"v{SCHEMA_VERSION}/MicrosoftTeams.schema.json"
)
LOCALIZATION_SCHEMA_PATH = SCHEMA_PATH.with_name("MicrosoftTeams.Localization.schema.json")
LOCALIZATION_SCHEMA_URL = (
    "https://developer.microsoft.com/json-schemas/teams/"
    f"v{SCHEMA_VERSION}/MicrosoftTeams.Localization.schema.json"
)
ICON_SIZES = {"color.png": (192, 192), "outline.png": (32, 32)}

# Package ids derived from the bot id are stable per environment, so re-sideloading
# a rebuilt package updates the installed app instead of adding a second one.
_APP_ID_NAMESPACE = uuid.UUID("5b0f5a8e-3c1d-4e4b-9a63-6f1c2b7d9e10")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LINK_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_PLACEHOLDER = re.compile(r"\$\{\{([A-Z_]+)\}\}")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Fixed timestamp: the same inputs give a byte-identical zip.
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def package_id(bot_app_id: str) -> str:
    """The app package (manifest) id derived from the bot id: stable per environment,
    and what Teams deep links into the app's tabs name the app by."""
    return str(uuid.uuid5(_APP_ID_NAMESPACE, bot_app_id.lower()))


class AppPackageError(ServerError):
    """The package cannot be built; the message says what to fix."""


class ManifestSchemaError(AppPackageError):
    """The rendered manifest violates the Teams manifest schema."""

    def __init__(self, violations: list[str], file: str = "manifest.json") -> None:
        self.violations = violations
        lines = "\n".join(f"  - {v}" for v in violations)
        kind = "manifest" if file == "manifest.json" else "localization"
        super().__init__(
            f"{file} violates the Teams {kind} v{SCHEMA_VERSION} schema "
            f"({len(violations)} problem(s)):\n{lines}"
        )


def build_app_package(
    *,
    bot_app_id: str,
    sso_app_id: str,
    base_url: str,
    version: str,
    output: Path,
    app_id: str | None = None,
    manifest_dir: Path = MANIFEST_DIR,
    schema_path: Path = SCHEMA_PATH,
    link_domains: Sequence[str] = (),
) -> Path:
    """Render, validate and zip the app package; return the zip's path.

    ``output`` is the ``.zip`` file to write, or a directory to write
    ``crmcard-<version>.zip`` into. ``app_id`` defaults to a GUID derived from the bot
    id, so each environment keeps one stable Teams app id.
    """
    manifest = render_manifest(
        bot_app_id=bot_app_id,
        sso_app_id=sso_app_id,
        base_url=base_url,
        version=version,
        app_id=app_id,
        manifest_dir=manifest_dir,
        link_domains=link_domains,
    )
    validate_manifest(manifest, schema_path=schema_path)
    icons = {name: _read_icon(manifest_dir / name, size) for name, size in ICON_SIZES.items()}
    languages = localization_files(manifest)
    for name, texts in languages.items():
        validate_manifest(
            texts, schema_path=schema_path.with_name(LOCALIZATION_SCHEMA_PATH.name), file=name
        )

    is_dir = output.is_dir() or output.suffix.lower() != ".zip"
    target = output / f"crmcard-{version}.zip" if is_dir else output
    target.parent.mkdir(parents=True, exist_ok=True)
    files = {
        "manifest.json": _json(manifest),
        **icons,
        **{name: _json(texts) for name, texts in languages.items()},
    }
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return target


def render_manifest(
    *,
    bot_app_id: str,
    sso_app_id: str,
    base_url: str,
    version: str,
    app_id: str | None = None,
    manifest_dir: Path = MANIFEST_DIR,
    link_domains: Sequence[str] = (),
) -> dict[str, Any]:
    """Fill the template's ``${{NAME}}`` placeholders; check the inputs first.

    Substitution happens on parsed JSON strings, so no value can break the JSON.
    ``link_domains``: the hosts of the tenant's CRM record pages, whose links the message
    extension unfurls (``messageHandlers``); none, no link unfurling.
    """
    for link_domain in link_domains:
        if not _LINK_DOMAIN.match(link_domain):
            raise AppPackageError(f"link domain must be a host name, got {link_domain!r}")
    for label, value in (("bot app id", bot_app_id), ("SSO app id", sso_app_id)):
        if not _GUID.match(value):
            raise AppPackageError(
                f"{label} must be an Entra application (client) id GUID, got {value!r}"
            )
    if app_id is not None and not _GUID.match(app_id):
        raise AppPackageError(f"app package id must be a GUID, got {app_id!r}")
    if not _SEMVER.match(version):
        raise AppPackageError(f"version must be semver MAJOR.MINOR.PATCH, got {version!r}")
    parts = urlsplit(base_url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise AppPackageError(
            f"base URL must be the public https:// URL Teams reaches crmcard at, got {base_url!r}"
        )
    if parts.query or parts.fragment:
        raise AppPackageError(f"base URL must not have a query or fragment, got {base_url!r}")
    host = parts.hostname
    domain = f"{host}:{parts.port}" if parts.port else host
    base = f"https://{domain}{parts.path.rstrip('/')}"
    values = {
        "APP_ID": app_id or package_id(bot_app_id),
        "APP_VERSION": version,
        "BOT_APP_ID": bot_app_id,
        "SSO_APP_ID": sso_app_id,
        "BASE_URL": base,
        "DOMAIN": domain,
        "SSO_RESOURCE": application_id_uri(sso_app_id, base),
    }

    template_path = manifest_dir / TEMPLATE_NAME
    try:
        template = json.loads(template_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AppPackageError(f"manifest template not found: {template_path}") from exc
    except json.JSONDecodeError as exc:
        raise AppPackageError(f"manifest template {template_path} is not JSON: {exc}") from exc

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda m: _lookup(values, m.group(1)), node)
        if isinstance(node, list):
            return [fill(item) for item in node]
        if isinstance(node, dict):
            return {key: fill(item) for key, item in node.items()}
        return node

    manifest: dict[str, Any] = fill(template)
    if link_domains:
        for extension in manifest.get("composeExtensions", []):
            extension["messageHandlers"] = [
                {"type": "link", "value": {"domains": list(dict.fromkeys(link_domains))}}
            ]
    return manifest


def localization_files(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """File name -> content of each language the manifest's ``localizationInfo`` names."""
    info = manifest.get("localizationInfo") or {}
    return {
        entry["file"]: manifest_texts.localization_file(
            manifest, entry["languageTag"].split("-")[0], LOCALIZATION_SCHEMA_URL
        )
        for entry in info.get("additionalLanguages", [])
    }


def _json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def validate_manifest(
    manifest: dict[str, Any], *, schema_path: Path = SCHEMA_PATH, file: str = "manifest.json"
) -> None:
    """Raise :class:`ManifestSchemaError` listing every schema violation, if any."""
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise AppPackageError(
            f"Teams manifest schema not found at {schema_path}; "
            "run `npm install` in the repository root (it ships with @microsoft/app-manifest)"
        ) from exc
    import jsonschema  # only a package build validates: the server starts without it

    validator = jsonschema.Draft4Validator(schema)
    violations = _describe(validator.iter_errors(manifest))
    if violations:
        raise ManifestSchemaError(violations, file)


def _lookup(values: dict[str, str], name: str) -> str:
    if name not in values:
        raise AppPackageError(f"manifest template uses unknown placeholder ${{{{{name}}}}}")
    return values[name]


def _describe(errors: Iterable[ValidationError]) -> list[str]:
    """One line per violation, at its JSON path, most specific cause first."""
    from jsonschema.exceptions import best_match

    lines = []
    for error in errors:
        leaf = best_match([error])  # descends into anyOf/oneOf to the likeliest cause
        where = leaf.json_path if leaf.absolute_path else "$ (top level)"
        lines.append(f"{where}: {leaf.message}")
    return sorted(lines)


def _read_icon(path: Path, size: tuple[int, int]) -> bytes:
    """Read a PNG and check its pixel size from the IHDR header (no imaging library)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise AppPackageError(f"icon not found: {path}") from exc
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise AppPackageError(f"icon {path.name} is not a PNG file")
    actual = struct.unpack(">II", data[16:24])
    if actual != size:
        raise AppPackageError(
            f"icon {path.name} must be {size[0]}x{size[1]} pixels, is {actual[0]}x{actual[1]}"
        )
    return data
