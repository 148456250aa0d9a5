"""Encryption at rest for secrets and token caches kept in the store.

AES-256-GCM with a deployment key (``CRMCARD_SECRET_KEY``); the document key is bound as
associated data, so a ciphertext copied to another key (another tenant) fails to open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.errors import ServerError

_VERSION = b"v1:"


class SecretBoxError(ServerError):
    """A sealed value could not be opened: wrong key, wrong place or tampered."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the secret key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        return cls(base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4)))

    @staticmethod
    def new_key() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return _VERSION + base64.b64encode(nonce + sealed)

    def open(self, sealed: bytes, context: str) -> bytes:
        if not sealed.startswith(_VERSION):
            raise SecretBoxError("not a sealed value")
        raw = base64.b64decode(sealed[len(_VERSION) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag as error:
            raise SecretBoxError(
                "the value was sealed with another key or for another place"
            ) from error
