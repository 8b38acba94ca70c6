"""The services the CLI calls: each command is one call into one of these.

    account_setup.py  connect the CRM, add / reconnect / configure / remove accounts,
                      list groups (sign-ins through auth/, settings checked by settings.py)
    runner.py         run passes for every account (or the ones named): locks, the
                      store, the CRM caches, per-account isolation and the exit-code precedence
    status.py         what `status` shows: totals, recent changes, failures and skips
    doctor.py         `doctor`: configuration, secrets and permission checks

Rules: services sequence the other parts and return plain data; they never print
(the CLI renders) and never decide what to sync (the engine does). SQL stays in store/.
"""
