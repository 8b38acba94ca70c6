#!/usr/bin/env sh
# Print one line per account and exit non-zero if any account's last pass failed
# or has failing contacts. Needs jq.
set -eu
contactsync status --json | jq -r '
  .accounts[] |
  "\(.account): \(.linked) linked, last pass \(.last_run.outcome // "never"), \(.failures | length) failing"'
contactsync status --json | jq -e '[.accounts[] | select(.last_run.outcome == "failed" or (.failures | length) > 0)] | length == 0' >/dev/null
