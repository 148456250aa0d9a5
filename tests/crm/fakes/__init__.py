"""Contract fakes of CRM vendor APIs (and of the Entra authority) for the adapter tests.

The vendor fakes share :mod:`tests.crm.fakes.base` (request log, fault injection).
"""
