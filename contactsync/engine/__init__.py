"""The sync engine: one engine for one-way and two-way passes (DESIGN §5).

Layout, in the order a pass uses it:

    rules.py          SyncSettings (typed account settings) and the pure contact rules:
                      prepare, fit, record_hash, make_stamp
    snapshot.py       the reader: CrmSnapshot, every CRM read of a pass done up front
    plan.py           the one pure planner: plan(links, provider_changes, crm_snapshot, settings)
                      -> list[Action]; `plan_step` is the same planner fed page by page
    merge.py          the three-way, field-level merge used by the planner (pure)
    unreadable.py     after a merge: a value a side could not read is never written over (pure)
    actions.py        the one action set; every action names the side it writes (`side`)
    safety.py         the safety rails: every planned deletion, both sides, passes here
    apply.py          the one executor; apply_provider.py is its provider-writing half
    run.py            sync_account: read -> plan -> guard -> apply -> record, nothing else
    dry_run.py        a dry run's plan described for people (reads only)
    events.py         the one list of event kinds (executor, status, renderer)
    lock.py           one pass per account at a time

Rules between the parts: plan.py, merge.py and rules.py do no I/O and read no
clock; snapshot.py and run.py read, apply.py and apply_provider.py write; only
the executor writes links. One-way is two-way with the provider's writes
switched off: the planner never plans a provider write in a one-way pass, and
the executor has no provider to write to.

For other parts (CLI, runner):
* progress: `PassOptions.on_applied(done, total)` is called after every applied
  action (`total` grows while pages stream in); `sync_account(..., progress)` is
  called with the number of contacts read per page and -1 at the end.
* dry run: `PassResult.plan` holds the planned actions. Each carries its contact
  (`contact.name`, `contact.primary_email`), updates carry `before`, and
  `actions.field_changes(before, after)` gives field-level (field, old, new);
  `PassResult.described` (engine/dry_run.py) lists each action with its name,
  e-mail and field changes, and the organizations and custom fields the real
  pass would create (read, not made).
"""
