"""Use cases over the domain. They reach the outside only through the ports defined here."""
