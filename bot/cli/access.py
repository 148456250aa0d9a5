"""How an admin command reaches crmcard, and how it fails.

Two doors, and every admin command says in its ``--help`` which it takes:

* **the store** (the operator's door): the command opens the store of Settings itself
  and acts through the same services (and audit) as the admin API, with the actor
  ``cli:<os user>`` -- :func:`on_store`;
* **the admin API** of a running bot (any tenant admin's door): ``--url`` with
  ``--token`` (an Entra access token for the SSO app) or ``--admin-key`` (the operator's
  bootstrap key) -- :func:`call`.

Either way a failure is one line on standard error and an exit code, never a traceback:
a request crmcard refuses (:class:`~bot.errors.CrmcardError`, every field error on the
same line), an HTTP error answer (its problem's title and field errors), a server that
cannot be reached. :func:`bot.cli.main.main` reports :class:`CommandFailed`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.errors import CrmcardError, field_errors
from bot.services.store import Store
from bot.settings import Settings

DEFAULT_URL = "http://127.0.0.1:3978"
TIMEOUT_SECONDS = 30.0

STORE_DOOR = "against the store of the settings (the operator's door)"
HTTP_DOOR = "over a running bot's admin API (--url, with --token or --admin-key)"
EITHER_DOOR = (
    "against the store of the settings (the operator's door), or with --url over a "
    "running bot's admin API (--token or --admin-key)"
)
"""What ``--help`` says about the door a command takes."""


class CommandFailed(Exception):
    """A command that could not be done: one line for standard error, and the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def fail(failed: CommandFailed) -> int:
    """Say why a command failed, in one line on standard error; its exit code."""
    print(f"error: {failed}", file=sys.stderr)
    return failed.code


def _fields(errors: Iterable[Mapping[str, Any]]) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error.get('loc', ())) or 'body'}: {error.get('msg')}"
        for error in errors
    )


def one_line(message: str, errors: Iterable[Mapping[str, Any]] = ()) -> str:
    """``message``, with every field error after it on the same line."""
    fields = _fields(errors)
    return f"{message} ({fields})" if fields else message


def refused(error: CrmcardError | ValidationError) -> CommandFailed:
    """A request crmcard refused (or input that does not validate) as one line."""
    if isinstance(error, ValidationError):
        return CommandFailed(one_line(f"invalid {error.title}", field_errors(error)))
    return CommandFailed(one_line(str(error), getattr(error, "field_errors", ())))


# -- the store ---------------------------------------------------------------------------

T = TypeVar("T")
StoreBody = Callable[[argparse.Namespace, Settings, Store], Awaitable[T]]


async def with_store(body: StoreBody[T], args: argparse.Namespace, settings: Settings) -> T:
    """``body`` on the store of ``settings``, closed afterwards; a refusal is one line."""
    from bot.composition import open_store

    store = open_store(settings)
    try:
        return await body(args, settings, store)
    except (CrmcardError, ValidationError) as error:
        raise refused(error) from None
    finally:
        await store.close()


def on_store(body: StoreBody[int]) -> Callable[[argparse.Namespace], int]:
    """A command's ``run``: ``body`` on the store of the process's Settings."""

    def run(args: argparse.Namespace) -> int:
        return asyncio.run(with_store(body, args, Settings()))

    return run


# -- the admin API -----------------------------------------------------------------------


def http_options(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """``--url``, ``--token`` and ``--admin-key``; ``optional``: without ``--url`` the
    command works on the store instead."""
    parser.add_argument(
        "--url",
        default=None if optional else DEFAULT_URL,
        help="the running crmcard whose admin API to use"
        + (" (without it: the store)" if optional else f" (default: {DEFAULT_URL})"),
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CRMCARD_ADMIN_TOKEN", ""),
        help="a tenant admin's Entra access token for the SSO app (default: "
        "$CRMCARD_ADMIN_TOKEN); sent as Authorization: Bearer",
    )
    parser.add_argument(
        "--admin-key",
        default=os.environ.get("CRMCARD_ADMIN_KEY", "demo-admin-key"),
        help="without --token: the operator's bootstrap X-Admin-Key (default: "
        "$CRMCARD_ADMIN_KEY, else the demo tenant's key, accepted in demo mode only)",
    )


def credentials(args: argparse.Namespace) -> dict[str, str]:
    """A tenant admin's Entra access token if given, else the operator's bootstrap key."""
    if args.token:
        return {"Authorization": f"Bearer {args.token}"}
    return {"X-Admin-Key": args.admin_key}


def _problem_line(status: int, body: bytes) -> str:
    try:
        problem = json.loads(body)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = body.decode(errors="replace").strip().splitlines()
        return f"HTTP {status}" + (f": {text[0][:200]}" if text else "")
    said = problem.get("detail") or problem.get("title") or ""
    return f"HTTP {status}: " + one_line(str(said), problem.get("errors") or ())


def request(
    url: str, method: str, path: str, body: Any = None, headers: Mapping[str, str] = {}
) -> Any:
    """The JSON answer of ``method path`` on ``url`` (None when empty); an HTTP error
    answer or an unreachable server is a :class:`CommandFailed` of one line."""
    data = None if body is None else json.dumps(body).encode()
    asked = urllib.request.Request(
        f"{url.rstrip('/')}{path}",
        data=data,
        headers={"Content-Type": "application/json", **headers},
        method=method,
    )
    try:
        with urllib.request.urlopen(asked, timeout=TIMEOUT_SECONDS) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        raise CommandFailed(_problem_line(error.code, error.read()), 1) from None
    except urllib.error.URLError as error:
        raise CommandFailed(f"cannot reach {url}: {error.reason}", 1) from None
    except (OSError, ValueError) as error:  # a reset connection, a malformed URL
        raise CommandFailed(f"cannot reach {url}: {error}", 1) from None
    try:
        return json.loads(text) if text else None
    except ValueError:
        raise CommandFailed(f"{url} answered something that is not JSON", 1) from None


def call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """``method path`` on the admin API of ``args.url``, as the admin ``args`` names."""
    return request(args.url, method, path, body, credentials(args))


def load(path: str) -> Any:
    """The JSON document in the file ``path`` (a command's input)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise CommandFailed(f"cannot read {path}: {error}") from None


def show(data: Any) -> None:
    """A JSON answer (or model, in the API's names) on standard output."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json", by_alias=True)
    if data is not None:
        print(json.dumps(data, indent=2, ensure_ascii=False))


def shown(args: argparse.Namespace, method: str, path: str, body: Any = None) -> int:
    """:func:`call`, its answer shown: the whole of most HTTP commands."""
    show(call(args, method, path, body))
    return 0
