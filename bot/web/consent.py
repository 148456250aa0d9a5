"""Multi-tenant admin consent: the link an administrator follows, and Entra's callback.

Routes
- ``GET /admin/consent[?tenant=<tenant id or domain>]``: a page whose button goes to
  ``{entra_authority}/{tenant|organizations}/v2.0/adminconsent`` for the SSO app, with
  ``redirect_uri=<public_url>/admin/consent/callback`` and a ``state`` sealed with the
  deployment key (expires in 10 minutes) and bound to this browser by a cookie.
- ``GET /admin/consent/callback``: Entra sends ``admin_consent=True&tenant=...&state=...``
  or ``error=...&error_description=...&state=...``. A bad, expired or foreign state is
  refused (400, nothing recorded); an ``error`` shows what Entra said (nothing recorded);
  a grant is confirmed by signing in as the app in that tenant (client credentials: only
  works where the app's service principal exists, i.e. consent really was given, so a
  hand-made callback URL cannot enable a tenant), then recorded with who and when; the
  tenant's write-backs waiting for its consent are due at once
  (:meth:`bot.services.writeback.WritebackWorker.consent_granted`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from aiohttp import web

from bot.adapters.crm.tokens import EntraAppNotInTenant, MsalClientCredentials, MsalSettings
from bot.services import tenants
from bot.services.consent_recheck import ConsentCheck, ConsentRecheck, ConsentVerifier, Verdict
from bot.services.crm import CrmError
from bot.services.secret_box import SecretBox, SecretBoxError
from bot.settings import Settings
from bot.web.admin_outbox import WRITEBACK
from bot.web.interactions import CONTEXT, SETTINGS

log = logging.getLogger(__name__)

STATE_CONTEXT = "admin-consent-state"
STATE_LIFETIME_SECONDS = 600
COOKIE = "crmcard_consent"
CONSENT_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
MAX_TENANT_LENGTH = 100


class MsalConsentVerifier:
    """Confirms consent by getting an app-only token in the tenant (client credentials)."""

    def __init__(self, settings: Settings, *, verify: bool | str = True) -> None:
        self.settings = settings
        self.verify = verify

    async def __call__(self, tenant_id: str) -> ConsentCheck:
        client_id, secret = self.settings.sso_app_id, self.settings.sso_secret
        if not client_id or not secret:
            return ConsentCheck(
                Verdict.unknown,
                "this server has no client secret for its app, so it cannot confirm consent",
            )
        authority = self.settings.entra_authority.rstrip("/")
        provider = MsalClientCredentials(
            MsalSettings(
                client_id=client_id,
                client_secret=secret,
                authority=f"{authority}/{tenant_id}",
                scopes=(CONSENT_SCOPE,),
                instance_discovery=authority == DEFAULT_AUTHORITY,
                verify=self.verify,
            )
        )
        try:
            await provider.token()
        except EntraAppNotInTenant as error:
            return ConsentCheck(Verdict.absent, f"Microsoft Entra ID did not confirm it ({error})")
        except CrmError as error:
            return ConsentCheck(Verdict.unknown, f"Microsoft Entra ID did not confirm it ({error})")
        finally:
            await provider.aclose()
        return ConsentCheck(Verdict.confirmed)


SECRET_BOX = web.AppKey("secret_box", SecretBox)
CONSENT_VERIFIER: web.AppKey[ConsentVerifier] = web.AppKey("consent_verifier")
CONSENT_RECHECK = web.AppKey("consent_recheck", ConsentRecheck)


def _valid_tenant(tenant: str) -> bool:
    """A tenant id or domain name: it becomes a path segment of the Entra authority."""
    return 0 < len(tenant) <= MAX_TENANT_LENGTH and all(c.isalnum() or c in ".-" for c in tenant)


def redirect_uri(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/admin/consent/callback"


def _seal_state(box: SecretBox, nonce: str) -> str:
    payload = json.dumps({"n": nonce, "exp": int(time.time()) + STATE_LIFETIME_SECONDS})
    return base64.urlsafe_b64encode(box.seal(payload.encode(), STATE_CONTEXT)).decode()


def _open_state(box: SecretBox, state: str) -> str | None:
    """The nonce of a genuine, unexpired state; None otherwise."""
    try:
        raw = box.open(base64.urlsafe_b64decode(state.encode()), STATE_CONTEXT)
        payload = json.loads(raw)
    except (SecretBoxError, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        return None
    if payload["exp"] < time.time() or not isinstance(payload.get("n"), str):
        return None
    nonce: str = payload["n"]
    return nonce


def _page(status: int, title: str, body_html: str) -> web.Response:
    return web.Response(
        status=status,
        content_type="text/html",
        text=(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>crmcard: {html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1>{body_html}</body></html>"
        ),
        headers={"Cache-Control": "no-store", "Content-Security-Policy": "frame-ancestors 'none'"},
    )


async def get_consent(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not settings.sso_app_id:
        return _page(
            503,
            "Admin consent is not available",
            "<p>This server has no Microsoft Entra app configured (MicrosoftAppId / "
            "CRMCARD_SSO_CLIENT_ID), so there is nothing to consent to.</p>",
        )
    tenant = request.query.get("tenant", "").strip() or "organizations"
    if not _valid_tenant(tenant):
        return _page(400, "Unknown tenant", "<p>Give a tenant id or domain name.</p>")
    nonce = secrets.token_urlsafe(24)
    query = urlencode(
        {
            "client_id": settings.sso_app_id,
            "scope": CONSENT_SCOPE,
            "redirect_uri": redirect_uri(settings),
            "state": _seal_state(request.app[SECRET_BOX], nonce),
        }
    )
    url = f"{settings.entra_authority.rstrip('/')}/{tenant}/v2.0/adminconsent?{query}"
    response = _page(
        200,
        "Enable crmcard for your organization",
        "<p>A Microsoft Entra administrator (Global, Application or Cloud Application "
        "Administrator) of your organization grants crmcard the permissions it needs, "
        "once for everyone. Until then crmcard refuses your organization's requests.</p>"
        f'<p><a id="consent" href="{html.escape(url)}">Grant admin consent</a></p>',
    )
    response.set_cookie(
        COOKIE,
        nonce,
        max_age=STATE_LIFETIME_SECONDS,
        path="/admin/consent",
        httponly=True,
        secure=settings.public_url.startswith("https://"),
        samesite="Lax",
    )
    return response


async def get_consent_callback(request: web.Request) -> web.Response:
    query = request.query
    nonce = _open_state(request.app[SECRET_BOX], query.get("state", ""))
    cookie = request.cookies.get(COOKIE, "")
    # bytes, not text: compare_digest refuses text with characters outside ASCII
    presented = cookie.encode("utf-8", "surrogateescape")
    if nonce is None or not cookie or not secrets.compare_digest(nonce.encode(), presented):
        log.warning("refused an admin consent callback with a bad or expired state")
        return _page(
            400,
            "This consent link is not valid",
            "<p>It expired, was already used, or was started in another browser. "
            '<a href="/admin/consent">Start again</a>.</p>',
        )
    error = query.get("error")
    if error:
        description = query.get("error_description", "")
        log.info("admin consent was not granted: %s", error)
        title = "Consent was declined" if error == "access_denied" else "Consent failed"
        response = _page(
            400,
            title,
            f"<p>Microsoft Entra ID answered <code>{html.escape(error)}</code>: "
            f"{html.escape(description)}</p><p>crmcard stays disabled for your "
            'organization. <a href="/admin/consent">Try again</a>.</p>',
        )
        response.del_cookie(COOKIE, path="/admin/consent")
        return response
    tenant = query.get("tenant", "")
    granted = query.get("admin_consent", "").lower() == "true"
    if not granted or not _valid_tenant(tenant):
        return _page(400, "Consent was not granted", "<p>Entra did not report a grant.</p>")
    check = await request.app[CONSENT_VERIFIER](tenant)
    if check.verdict is not Verdict.confirmed:
        log.warning("admin consent for tenant %s could not be confirmed: %s", tenant, check.reason)
        return _page(
            400,
            "Consent could not be confirmed",
            f"<p>{html.escape(check.reason)}</p><p>crmcard stays disabled for tenant "
            f"<code>{html.escape(tenant)}</code>.</p>",
        )
    ctx = request.app[CONTEXT]
    await tenants.record_consent(
        ctx.store,
        tenant,
        at=ctx.clock(),
        by=f"an administrator of tenant {tenant} (Entra admin consent)",
        detail=f"callback from {request.remote or 'unknown address'}",
    )
    log.info("tenant %s granted admin consent", tenant)
    try:  # the write-backs the gate held back: due now, not after their backoff
        await request.app[WRITEBACK].consent_granted(tenant)
    except Exception:  # they are delivered after their backoff all the same
        log.exception("could not make the write-backs waiting for %s's consent due", tenant)
    response = _page(
        200,
        "crmcard is enabled",
        f"<p>Admin consent for tenant <code>{html.escape(tenant)}</code> is recorded. "
        "Agents can now use the crmcard app in Teams.</p>",
    )
    response.del_cookie(COOKIE, path="/admin/consent")
    return response


def setup_consent(app: web.Application, box: SecretBox) -> None:
    """The consent routes, and the periodic re-check that notices a consent gone
    (:mod:`bot.services.consent_recheck`), run while the gate is on."""
    settings = app[SETTINGS]
    app[SECRET_BOX] = box
    if CONSENT_VERIFIER not in app:
        app[CONSENT_VERIFIER] = MsalConsentVerifier(settings)

    async def verify(tenant_id: str) -> ConsentCheck:  # the verifier the app holds then
        return await app[CONSENT_VERIFIER](tenant_id)

    ctx = app[CONTEXT]
    app[CONSENT_RECHECK] = ConsentRecheck(ctx.store, settings, verify, ctx.clock)

    async def run_recheck(app: web.Application) -> AsyncIterator[None]:
        task = None
        if settings.tenant_gate_enabled and settings.consent_recheck_minutes:
            recheck = app[CONSENT_RECHECK].run(settings.consent_recheck_minutes * 60)
            task = asyncio.create_task(recheck, name="consent re-check")
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(run_recheck)
    app.router.add_get("/admin/consent", get_consent)
    app.router.add_get("/admin/consent/callback", get_consent_callback)
