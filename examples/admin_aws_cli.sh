#!/usr/bin/env bash
# The admin command's work with the AWS CLI. The table is keyed by `key` alone
# ("<namespace>:<hash>"): a query can only fetch one key, so the rest is get-item and scan
# (the CLI follows every page). The key is the one `python -m lambda_http_cache get` prints.
set -euo pipefail

# One entry; leave out --projection-expression (and the names) for the body.
aws dynamodb get-item --table-name http_cache \
  --key '{"key": {"S": "catalog:79db06a7e863d6eb"}}' \
  --projection-expression "#u, #s, #c, #e, body_size, body_encoding" \
  --expression-attribute-names '{"#u": "url", "#s": "status", "#c": "created", "#e": "expires"}'

# Delete it.
aws dynamodb delete-item --table-name http_cache \
  --key '{"key": {"S": "catalog:79db06a7e863d6eb"}}'

# The entries of a namespace.
aws dynamodb scan --table-name http_cache \
  --filter-expression "begins_with(#k, :p)" \
  --expression-attribute-names '{"#k": "key", "#u": "url"}' \
  --expression-attribute-values '{":p": {"S": "catalog:"}}' \
  --projection-expression "#k, #u"

# How many: --select COUNT, without --projection-expression and without the names only it
# used (#u): DynamoDB refuses an expression attribute name that no expression uses.
aws dynamodb scan --table-name http_cache --select COUNT \
  --filter-expression "begins_with(#k, :p)" \
  --expression-attribute-names '{"#k": "key"}' \
  --expression-attribute-values '{":p": {"S": "catalog:"}}'

# Expired items still stored: `expires` is ISO 8601 in UTC, so it compares as text;
# redirect aliases and the cache's markers have only `ttl` (epoch seconds).
aws dynamodb scan --table-name http_cache \
  --filter-expression "#e < :now OR #t < :epoch" \
  --expression-attribute-names '{"#k": "key", "#e": "expires", "#t": "ttl"}' \
  --expression-attribute-values "{\":now\": {\"S\": \"$(date -u +%Y-%m-%dT%H:%M:%S)\"}, \":epoch\": {\"N\": \"$(date +%s)\"}}" \
  --projection-expression "#k, #e"
