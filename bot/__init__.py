"""crmcard: customer cards from the contact center's CRMs, inside Microsoft Teams."""
