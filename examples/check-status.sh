#!/usr/bin/env sh
# Print one line per account and exit non-zero if any account's last pass failed
# or has failing contacts. Needs jq. The shape is the JSON Schema contactsync/status/1
# (contactsync/schemas/status.schema.json in the package).
set -eu
status=$(contactsync status --json)
printf '%s\n' "$status" | jq -r '
  .data.accounts[] |
  "\(.account): \(.linked) linked, last pass \(.last_run.outcome // "never"), \(.failures | length) failing"'
printf '%s\n' "$status" | jq -e '.ok and ([.data.accounts[] | select(.last_run.outcome == "failed" or (.failures | length) > 0)] | length == 0)' >/dev/null
