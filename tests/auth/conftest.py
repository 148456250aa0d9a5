"""The local Entra authority (MSAL over HTTPS) of the CRM tests, for the auth tests too."""

from tests.crm.conftest import entra, tls  # noqa: F401  (fixtures)
