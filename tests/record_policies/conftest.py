from tests.workflows.conftest import client, demo, zendesk

__all__ = ["client", "demo", "zendesk"]
