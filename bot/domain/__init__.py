"""The pure core: cards, interactions, links and their rules. No I/O lives here."""
