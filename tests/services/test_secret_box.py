import pytest

from bot.services.secret_box import SecretBox, SecretBoxError


def test_round_trip_and_binding_to_its_place() -> None:
    box = SecretBox.from_setting(SecretBox.new_key())
    sealed = box.seal(b"token-cache", "tenants/a/token-cache")
    assert b"token-cache" not in sealed
    assert box.open(sealed, "tenants/a/token-cache") == b"token-cache"
    with pytest.raises(SecretBoxError):
        box.open(sealed, "tenants/b/token-cache")


def test_other_key_or_tampering_fails() -> None:
    sealed = SecretBox.from_setting(SecretBox.new_key()).seal(b"x", "k")
    with pytest.raises(SecretBoxError):
        SecretBox.from_setting(SecretBox.new_key()).open(sealed, "k")
    with pytest.raises(SecretBoxError):
        SecretBox(b"k" * 32).open(b"plain", "k")


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        SecretBox(b"short")
