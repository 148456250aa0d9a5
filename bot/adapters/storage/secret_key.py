"""The deployment's secret key (``CRMCARD_SECRET_KEY``) as a :class:`SecretBox`.

The embedded store (one machine, a data dir) may run without a configured key: one is
generated into ``<data_dir>/secret.key`` (mode 0600) on first start and read back after.
A shared Blob store must be given the key explicitly, so every instance has the same one:
without it the app refuses to start.
"""

from __future__ import annotations

import logging
import os

from bot.errors import ServerError
from bot.services.secret_box import SecretBox
from bot.settings import Settings, StoreKind

log = logging.getLogger(__name__)

KEY_FILE = "secret.key"


class MissingSecretKey(ServerError, RuntimeError):
    """No secret key is configured where one cannot be generated."""


def secret_box(settings: Settings) -> SecretBox:
    configured = settings.secret_key.get_secret_value().strip()
    if configured:
        try:
            return SecretBox.from_setting(configured)
        except ValueError as error:
            raise MissingSecretKey(f"CRMCARD_SECRET_KEY is not usable: {error}") from None
    if settings.store is StoreKind.blob:
        raise MissingSecretKey(
            "CRMCARD_SECRET_KEY is required with the Blob store: set it to the same base64 "
            "of 32 random bytes on every instance, e.g. "
            'python -c "import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
        )
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use that one
        else:
            with os.fdopen(fd, "w") as file:
                file.write(SecretBox.new_key() + "\n")
            log.warning(
                "generated a secret key for secrets and token caches at rest into %s; "
                "back it up with the data dir (set CRMCARD_SECRET_KEY to manage it yourself)",
                path,
            )
    try:
        return SecretBox.from_setting(path.read_text().strip())
    except ValueError as error:
        raise MissingSecretKey(f"{path} does not hold a usable secret key: {error}") from None
