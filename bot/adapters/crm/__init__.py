"""CRM adapters: each implements :class:`bot.services.crm.CrmClient` for one vendor."""
