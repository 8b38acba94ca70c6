"""contactsync: keep a provider address book and a CRM in step."""

import logging

__version__ = "0.1.0"

# Library convention: silent unless the CLI (or an embedding program) configures logging.
logging.getLogger("contactsync").addHandler(logging.NullHandler())
