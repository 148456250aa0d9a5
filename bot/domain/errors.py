"""Errors the domain raises; every one carries a message fit to show a user.

They belong to :mod:`bot.errors`' tree: a domain refusal is invalid input unless the
subclass names another family first.
"""

from bot.errors import Conflict, InvalidInput


class DomainError(InvalidInput):
    """A request the domain rules refuse."""


class InvalidIdentifier(DomainError):
    """A phone number, email or handle that cannot be normalised."""


class InvalidTransition(Conflict, DomainError):
    """A lifecycle event that does not follow from the interaction's current state."""


class UnknownRecord(DomainError):
    """An action names a CRM record the interaction does not show."""
