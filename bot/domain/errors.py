"""Errors the domain raises; every one carries a message fit to show a user."""


class DomainError(Exception):
    """A request the domain rules refuse."""


class InvalidIdentifier(DomainError):
    """A phone number, email or handle that cannot be normalised."""


class InvalidTransition(DomainError):
    """A lifecycle event that does not follow from the interaction's current state."""


class UnknownRecord(DomainError):
    """An action names a CRM record the interaction does not show."""
