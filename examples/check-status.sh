#!/usr/bin/env sh
# Print one line per account and exit non-zero if any account's last pass failed
# or has failing contacts. Needs jq. The shape is the JSON Schema contactsync/status/1
# (contactsync/schemas/status.schema.json in the package). Like the other examples it
# calls contactsync by its absolute path (cron's PATH is /usr/bin:/bin): replace it with yours.
set -eu
contactsync=/home/ann/.local/bin/contactsync
# A failing status still prints its JSON envelope (with .error): keep it, decide below.
status=$("$contactsync" status --json || true)
printf '%s\n' "$status" | jq -r '
  .data.accounts[] |
  "\(.account): \(.linked) linked, last pass \(.last_run.outcome // "never"), \(.failures | length) failing"'
printf '%s\n' "$status" | jq -e '.ok and ([.data.accounts[] | select(.last_run.outcome == "failed" or (.failures | length) > 0)] | length == 0)' >/dev/null
