"""contactsync: keep a provider address book and a CRM in step."""

__version__ = "0.1.0"
