"""Where each kind of document lives in the store; every key starts with its tenant.

Putting the tenant first makes isolation structural: no key a service builds for tenant
A can name a document of tenant B.
"""

from functools import lru_cache
from urllib.parse import quote, unquote


@lru_cache(maxsize=16384)
def part(value: str) -> str:
    """``value`` as one key segment. Cached: a new interaction's event builds about 25 keys
    of the same few ids (its tenant, agent, card, interaction), 1.4 us each by ``quote``."""
    return quote(value, safe="")


def segments(key: str) -> list[str]:
    """The parts of a key, decoded (an identity key's phone number, an interaction id)."""
    return [unquote(piece) for piece in key.split("/")]


@lru_cache(maxsize=4096)
def tenant_prefix(tenant_id: str) -> str:
    """Cached: a card event builds a dozen keys of its tenant."""
    return f"tenants/{part(tenant_id)}/"


def card(tenant_id: str, card_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}cards/{part(card_id)}"


def card_index(tenant_id: str, identity_key: str) -> str:
    return f"{tenant_prefix(tenant_id)}card-index/{part(identity_key)}"


def interaction(tenant_id: str, interaction_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}interactions/{part(interaction_id)}"


def agent_inbox(tenant_id: str, aad_object_id: str) -> str:
    """Which interaction each agent has open, newest last."""
    return f"{tenant_prefix(tenant_id)}agents/{part(aad_object_id)}/inbox"


def supervisor(tenant_id: str, user_id: str) -> str:
    """A supervisor's role, remembered from their last SSO token (bot.services.supervisors)."""
    return f"{tenant_prefix(tenant_id)}supervisors/{part(user_id)}"


def audit(tenant_id: str, entry_id: str) -> str:
    """A merge's own journal (its plan, state and undo data; bot.services.merge).

    Not the audit stream: that is :func:`audit_entry`."""
    return f"{tenant_prefix(tenant_id)}audit/{part(entry_id)}"


def audit_entry(tenant_id: str, day: str, entry_id: str) -> str:
    """One entry of the tenant's audit stream (bot.services.audit), filed by UTC day."""
    return f"{audit_log_prefix(tenant_id)}{part(day)}/{part(entry_id)}"


def audit_log_prefix(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}audit-log/"


def cards_prefix(tenant_id: str) -> str:
    """Every card of the tenant (for the name scan of merge candidates)."""
    return f"{tenant_prefix(tenant_id)}cards/"


def card_merge(tenant_id: str, card_id: str) -> str:
    """The merge holding ``card_id``: a lock while it runs, "merged into" once absorbed."""
    return f"{tenant_prefix(tenant_id)}card-merges/{part(card_id)}"


def audit_prefix(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}audit/"


def crm_config(tenant_id: str, settings_id: str) -> str:
    """One CRM configuration of the tenant (its secret sealed inside)."""
    return f"{tenant_prefix(tenant_id)}crm-configs/{part(settings_id)}"


def crm_last_test(tenant_id: str, settings_id: str) -> str:
    """The outcome of a CRM connection's last "test connection" (bot.services.health)."""
    return f"{tenant_prefix(tenant_id)}crm-tests/{part(settings_id)}"


def instance_counts(tenant_id: str, instance_id: str) -> str:
    return f"{instance_counts_prefix(tenant_id)}{part(instance_id)}"


def instance_counts_prefix(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}instance-counts/"


def crm_configs_prefix(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}crm-configs/"


def tenant_consent(tenant_id: str) -> str:
    """The tenant's admin-consent record and its history (the tenant registry)."""
    return f"{tenant_prefix(tenant_id)}consent"


def tenant_settings(tenant_id: str) -> str:
    """The tenant's own settings (bot.domain.tenant_settings): default phone region..."""
    return f"{tenant_prefix(tenant_id)}settings"


def token_cache(tenant_id: str, cache_name: str) -> str:
    """A persisted MSAL token cache of the tenant, sealed (``cache_name`` is a digest)."""
    return f"{tenant_prefix(tenant_id)}token-caches/{part(cache_name)}"


def memorialization(tenant_id: str, settings_id: str) -> str:
    """The memorialization mapping of one CRM configuration."""
    return f"{tenant_prefix(tenant_id)}memorialization/{part(settings_id)}"


def outbox_prefix(tenant_id: str, interaction_id: str | None = None) -> str:
    """Write-back outbox items of the tenant, or of one interaction."""
    base = f"{tenant_prefix(tenant_id)}outbox/"
    return base if interaction_id is None else f"{base}{part(interaction_id)}/"


def outbox_item(tenant_id: str, interaction_id: str, record_key: str) -> str:
    """One write-back: an interaction into one linked record."""
    return f"{outbox_prefix(tenant_id, interaction_id)}{part(record_key)}"


OUTBOX_DUE_PREFIX = "outbox-due/"
"""Markers of undelivered outbox items, for the write-back workers of every tenant.

One of two prefixes not starting with a tenant: a marker holds nothing but the key of its
(tenant-scoped) item, ``outbox-due/tenants/{tenant}/outbox/...``."""


def outbox_due(item_key: str) -> str:
    return f"{OUTBOX_DUE_PREFIX}{item_key}"


UNFINISHED_MERGES_PREFIX = "merges-unfinished/"
"""Merges and undos under way, for the recovery sweep of every instance (like
``outbox-due/``, a prefix not starting with a tenant): ``merges-unfinished/tenants/...``."""


def unfinished_merge(tenant_id: str, merge_id: str) -> str:
    return f"{UNFINISHED_MERGES_PREFIX}{tenant_prefix(tenant_id)}{part(merge_id)}"


def name_block(tenant_id: str, block: str) -> str:
    """Cards filed under one blocking key of the name index (bot.services.name_index)."""
    return f"{tenant_prefix(tenant_id)}name-index/{part(block)}"


def name_count(tenant_id: str, token: str) -> str:
    """How many cards carry one name token (the name frequency table), or, for the tokens
    ``#cards-<shard>``, a shard of the number of named cards."""
    return f"{tenant_prefix(tenant_id)}name-counts/{part(token)}"


def crm_ref(tenant_id: str, ref: str) -> str:
    """Cards whose interactions found one CRM record ("k:<record key>" or "i:<CRM id>")."""
    return f"{tenant_prefix(tenant_id)}crm-refs/{part(ref)}"


def card_terms(tenant_id: str, card_id: str) -> str:
    """What one card is filed under in the name and CRM-reference indexes, and why."""
    return f"{tenant_prefix(tenant_id)}card-terms/{part(card_id)}"


def merge_history(tenant_id: str, card_id: str) -> str:
    """The merges into one card, oldest first."""
    return f"{tenant_prefix(tenant_id)}merge-history/{part(card_id)}"


def routing(tenant_id: str) -> str:
    """The tenant's routing rules (bot.domain.routing)."""
    return f"{tenant_prefix(tenant_id)}routing"


def caller_lookup(tenant_id: str, lookup_id: str) -> str:
    """One IVR caller lookup, kept for the screen pop of the interaction it routed."""
    return f"{tenant_prefix(tenant_id)}caller-lookups/{part(lookup_id)}"


def platform_key(tenant_id: str, key_id: str) -> str:
    """One platform key of the tenant (bot.services.platform_keys): name, times, digest."""
    return f"{platform_keys_prefix(tenant_id)}{part(key_id)}"


def platform_keys_prefix(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}platform-keys/"


PLATFORM_KEY_DIGEST_PREFIX = "platform-key-digests/"
"""Where a presented key finds its tenant: the one other prefix not starting with a tenant,
since the key is all a request brings. A document holds the tenant and key id only."""


def platform_key_digest(key_digest: str) -> str:
    return f"{PLATFORM_KEY_DIGEST_PREFIX}{part(key_digest)}"


def agent_conversation(tenant_id: str, aad_object_id: str) -> str:
    """The agent's personal chat with the bot, for proactive cards."""
    return f"{tenant_prefix(tenant_id)}agents/{part(aad_object_id)}/conversation"


def workflow(tenant_id: str, workflow_id: str) -> str:
    return f"{workflows_prefix(tenant_id)}{part(workflow_id)}"


def workflows_prefix(tenant_id: str) -> str:
    """The tenant's workflow definitions."""
    return f"{tenant_prefix(tenant_id)}workflows/"


TENANT_REGISTRY_PREFIX = "tenant-registry/"
"""One empty marker per tenant that ever consented: the tenants a retention sweep visits
beside those named in the settings (keys are issued in the store, not the settings)."""


def tenant_registry(tenant_id: str) -> str:
    return f"{TENANT_REGISTRY_PREFIX}{part(tenant_id)}"


def workflow_run(tenant_id: str, workflow_id: str, request_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}workflow-runs/{part(workflow_id)}/{part(request_id)}"


def record_policy(tenant_id: str, queue: str) -> str:
    return f"{record_policies_prefix(tenant_id)}{part(queue)}"


def record_policies_prefix(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}record-policies/"


def record_creation_state(tenant_id: str, interaction_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}record-creation/{part(interaction_id)}"


def queue_records(tenant_id: str, card_id: str, queue: str) -> str:
    return f"{tenant_prefix(tenant_id)}queue-records/{part(card_id)}/{part(queue)}"
