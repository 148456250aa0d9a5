"""``crmcard package``: build the sideloadable Teams app zip from the settings and options.

The package itself is built by :mod:`bot.adapters.teams.app_package`; this door fills in
what the options leave out from the settings (the environment) and, with
``--links-of-tenant``, opens the store through the composition root to list the hosts of
the tenant's CRMs as link-unfurling domains.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bot.cli.access import CommandFailed, fail, with_store
from bot.services.store import Store
from bot.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``crmcard package``; unset ones fall back to the settings/environment."""
    parser.add_argument("--bot-app-id", help="bot's Entra app id (default: MicrosoftAppId)")
    parser.add_argument(
        "--sso-app-id",
        help="tab SSO Entra app id (default: CRMCARD_SSO_CLIENT_ID, else the bot app id)",
    )
    parser.add_argument("--base-url", help="public https URL (default: CRMCARD_PUBLIC_URL)")
    parser.add_argument("--version", dest="app_version", default="1.0.0", help="app version")
    parser.add_argument("--app-id", help="Teams app package id (default: derived from bot id)")
    parser.add_argument("--output", type=Path, default=Path("build"), help="zip file or dir")
    parser.add_argument(
        "--link-domain",
        action="append",
        default=[],
        help="host of CRM record links to unfurl (repeatable), e.g. contoso.zendesk.com",
    )
    parser.add_argument(
        "--links-of-tenant",
        metavar="TENANT",
        help="unfurl links of every CRM this tenant connected (read from the store)",
    )


def package_command(args: argparse.Namespace) -> int:
    """Entry point for ``crmcard package``: build the zip, print where it is; 0 on success."""
    from bot.adapters.teams.app_package import AppPackageError, build_app_package

    settings = Settings()
    bot_app_id = getattr(args, "bot_app_id", None) or settings.app_id
    sso_app_id = getattr(args, "sso_app_id", None) or settings.sso_client_id or bot_app_id
    base_url = getattr(args, "base_url", None) or settings.public_url
    link_domains = list(getattr(args, "link_domain", None) or [])
    tenant = getattr(args, "links_of_tenant", None)
    if tenant:
        link_domains += asyncio.run(with_store(_tenant_link_domains, args, settings))
    try:
        path = build_app_package(
            bot_app_id=bot_app_id,
            sso_app_id=sso_app_id,
            base_url=base_url,
            version=getattr(args, "app_version", None) or "1.0.0",
            output=getattr(args, "output", None) or Path("build"),
            app_id=getattr(args, "app_id", None),
            link_domains=link_domains,
        )
    except AppPackageError as exc:
        return fail(CommandFailed(str(exc), 1))
    print(path)
    return 0


async def _tenant_link_domains(
    args: argparse.Namespace, settings: Settings, store: Store
) -> list[str]:
    from bot.services.crm_configs import stored_configs
    from bot.services.record_search import link_domains

    return link_domains(await stored_configs(store, args.links_of_tenant))


def add_parser(commands: Any) -> None:
    package = commands.add_parser(
        "package",
        help="build the sideloadable Teams app zip (--links-of-tenant reads the store)",
    )
    add_arguments(package)
    package.set_defaults(run=package_command)
