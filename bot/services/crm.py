"""The CRM port: what the card needs from any CRM, whichever vendor answers.

Every adapter (demo, Salesforce, Dynamics 365, Zendesk, ...) implements
:class:`CrmClient`; :class:`CrmDirectory` says which ones a tenant has connected. An
adapter whose CRM holds shorter texts than crmcard writes says so (:class:`CutsText`), so
a write-back is cut to fit where it is built and its card names what was cut
(:func:`text_limits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from pydantic import Field

from bot.domain.api_model import Model
from bot.domain.memorialization import NO_LIMITS, TextLimits
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.errors import InvalidInput, NotFound, Throttled, Unavailable, UpstreamError


class CrmError(UpstreamError):
    """A CRM call failed; the message says which CRM and why, fit for an agent to read."""


class CrmUnavailable(Unavailable, CrmError):
    """The CRM cannot be reached or keeps failing (timeouts, 5xx, open circuit)."""


class CrmThrottled(Throttled, CrmUnavailable):
    """The CRM asked us to slow down (429, REQUEST_LIMIT_EXCEEDED...); ``retry_after``."""


class CrmAuthError(CrmError):
    """Credentials were refused or have expired and could not be renewed."""


class AgentNotSignedIn(CrmAuthError):
    """A CRM connected with delegated access has no token of the acting agent (or no agent
    acts): it is never called with crmcard's own access instead."""


class RecordNotFound(NotFound, CrmError):
    """The CRM has no record with that id."""


class InvalidRecord(InvalidInput, CrmError):
    """The CRM refused the record's fields (invalid field, duplicate detected...)."""


class NotSupported(InvalidInput, CrmError):
    """This CRM has no such operation."""


class SearchCriteria(Model):
    """Who to look for. Values are normalised (E.164 phones, lower-case emails)."""

    phones: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    name: str | None = None
    record_types: list[str] | None = Field(
        default=None, description="only these record types; None means person-level ones"
    )
    region: str = Field(
        default="US",
        description="the tenant's default phone region (ISO 3166 alpha-2), how numbers "
        "stored without a country code are read when a candidate is verified",
    )

    @property
    def is_empty(self) -> bool:
        return not (self.phones or self.emails or self.name)


class CrmClient(Protocol):
    @property
    def settings_id(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]: ...

    async def get(self, ref: RecordRef) -> CrmRecord: ...

    async def related(self, ref: RecordRef) -> list[CrmRecord]: ...

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        """``record`` created as a ``record_type`` (related to ``related_to``, where given),
        its fields and tags written as :class:`NewRecord` says. Nothing above the adapters
        spells a vendor's field.
        """
        ...

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        """Change fields of an existing record; the record as the CRM now has it.

        ``fields`` as a :class:`NewRecord`'s, and the neutral ``reopen``: make the closed
        record open again, in the status it names where the CRM takes status names.
        CRMs without updates (all but Salesforce and Dynamics) raise NotSupported.
        """
        ...

    async def create_timeline_activity(
        self,
        ref: RecordRef,
        subject: str,
        description: str,
        *,
        activity_type: str = "task",
        outbound: bool = False,
    ) -> CrmRecord:
        """Log a completed activity ("task" or "phonecall") on the record's timeline;
        ``outbound``: the agent called the customer (a phone call's direction: Dynamics
        ``directioncode``, Salesforce ``CallType``), else the customer called.

        CRMs without timelines (all but Salesforce and Dynamics) raise NotSupported.

        Adapters that can make it idempotent also take ``external_id=`` (the write-back's
        idempotency key) and offer ``find_timeline_activity(ref, external_id)``
        (:class:`bot.services.writeback_ports.IdempotentTimeline`): the demo CRM, Dynamics
        (``activityid`` derived from the key) and Salesforce (upsert by the Task
        external-id field, when one is configured).
        """
        ...


def neutral_update(fields: Mapping[str, str]) -> dict[str, str]:
    """An update for a CRM whose records use the neutral names themselves (the demo CRM,
    the generic REST connector): a record is reopened (``reopen``) into its ``status``."""
    return {("status" if name == "reopen" else name): value for name, value in fields.items()}


CARD_CREATES = ("contact", "lead", "case")
"""What the card offers to create, in this order: an unknown caller becomes a contact or a
lead; a known one gets a case."""


def adapter_of(client: CrmClient) -> object:
    """The adapter under the wrappers the directory puts around ``client`` (data mappings),
    each keeping what it wraps as ``inner``."""
    found: object = client
    while (inner := getattr(found, "inner", None)) is not None:
        found = inner
    return found


def creatable(client: CrmClient) -> list[str]:
    """The record types of :data:`CARD_CREATES` that ``client`` can create: those its
    adapter declares (a ``creatable`` attribute, read through the directory's wrappers),
    else a contact and a case, which every CRM crmcard connects to has."""
    declared = getattr(adapter_of(client), "creatable", None)
    known = declared if isinstance(declared, frozenset) else {"contact", "case"}
    return [kind for kind in CARD_CREATES if kind in known]


@runtime_checkable
class CutsText(Protocol):
    """An adapter whose CRM refuses a text longer than its column holds, and so cuts it to
    fit (Dynamics 365: a task's description holds 2,000 characters)."""

    def text_limits(self, record_type: str, activity_type: str) -> TextLimits:
        """What it cuts a write-back to a ``record_type`` record to, whose timeline activity
        is an ``activity_type``: the fields by the names :meth:`CrmClient.update` takes."""
        ...


def text_limits(client: CrmClient, record_type: str, activity_type: str) -> TextLimits:
    """The limits ``client``'s adapter would cut a write-back's texts to (:class:`CutsText`,
    read through the directory's wrappers); none where it declares none."""
    found = adapter_of(client)
    if isinstance(found, CutsText):
        return found.text_limits(record_type, activity_type)
    return NO_LIMITS


class CrmDirectory(Protocol):
    async def clients(self, tenant_id: str) -> list[CrmClient]:
        """The CRMs the tenant's admin has connected, in display order."""
        ...
