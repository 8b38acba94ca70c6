"""contactsync: keep a provider address book and a CRM in step.

Layout (each package describes its own parts and rules at its top):

    cli/        the command line: parse, call one service, render (no sync logic)
    services/   what the commands call: account setup, the runner, status, doctor
    engine/     the one sync engine: snapshot, pure planner, executor, safety rails
    store/      the SQLite state file, the only SQL of the project
    providers/  address books: Google, Microsoft, CardDAV, behind one contract
    crm/        CRMs: Pipedrive and its own rules (plans, visibility, fields, pictures)
    auth/       sign-ins and the secret stores
    sandbox/    loopback emulators of the three APIs, for the demo and the tests
    model.py, settings.py, config.py, paths.py, errors.py, cleaning.py, limits.py,
    http.py, clock.py, logs.py: the shared types, settings, files and helpers

Rules: the CLI calls services; services call the engine, providers, CRM and store;
the engine alone decides what to sync; adapters never touch the store.
"""

import logging

__version__ = "0.1.0"

# Library convention: silent unless the CLI (or an embedding program) configures logging.
logging.getLogger("contactsync").addHandler(logging.NullHandler())
