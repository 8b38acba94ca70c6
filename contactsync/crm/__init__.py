"""CRM adapters: the contract and Pipedrive behind it.

    base.py              Crm: the interface every CRM adapter fulfils (DESIGN §4);
                         tests/crm_contract.py is its contract suite
    pipedrive.py         the Pipedrive adapter (API v2, v1 where v2 has no equivalent)
    pipedrive_fields.py  Pipedrive's custom fields <-> Contact fields
    pipedrive_orgs.py    organizations by name: the cache, one listing of what changed, creates
    pipedrive_plans.py   Pipedrive's plans: visibility settings, `visible_to`, the effective visibility
    pipedrive_photo.py   Pipedrive's picture rules: which photos are uploaded, and how cropped
    cache.py             CrmCache: organizations, user, permissions and field keys kept across passes
    registry.py          opens the configured CRM with its secret and its rate limiter

Rules: adapters translate between an API and `Contact`, never touch the store,
and talk HTTP through contactsync/http.py.
"""
