#!/usr/bin/env bash
# Starts a PGlite server (PostgreSQL in WebAssembly, with pgvector) for the pgvector tests
# and prints the line that points the tests at it, for the caller to eval:
#
#   eval "$(scripts/pglite.sh --owner $$)"     # then: go test ./...
#
# prints  export VIBECODER_TEST_PGVECTOR_URL=postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
#
# The server (test/pglite/server.mjs) exits when the --owner process does (default: this
# script's parent). Its dependencies are installed with npm ci from test/pglite's lock
# file. Without node/npm: under CI=true this fails; elsewhere it warns on stderr, prints
# nothing, and the pgvector tests are skipped loudly. When VIBECODER_TEST_PGVECTOR_URL is
# already set, it is kept and nothing is started.
set -uo pipefail
cd "$(dirname "$0")/.."

red() { printf '\033[1;31m%s\033[0m\n' "$*" >&2; }
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

owner=$PPID
if [ "${1:-}" = "--owner" ] && [ -n "${2:-}" ]; then owner=$2; fi

if [ -n "${VIBECODER_TEST_PGVECTOR_URL:-}" ]; then
  say "PGlite: using VIBECODER_TEST_PGVECTOR_URL from the environment"
  printf 'export VIBECODER_TEST_PGVECTOR_URL=%q\n' "$VIBECODER_TEST_PGVECTOR_URL"
  exit 0
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "${CI:-}" = "true" ]; then
    red "CI=true and node/npm are not installed: the pgvector tests need Node.js 20+ for PGlite"
    exit 1
  fi
  red "WARNING: node/npm not found; the pgvector (PGlite) tests will be SKIPPED. Install Node.js 20+."
  exit 0
fi

say "npm ci (test/pglite)"
npm ci --prefix test/pglite --no-audit --no-fund >&2 || { red "npm ci in test/pglite failed"; exit 1; }

log=$(mktemp "${TMPDIR:-/tmp}/vibecoder-pglite.XXXXXX")
say "starting PGlite with pgvector (log: $log)"
(cd test/pglite && exec node server.mjs --port 0 --owner "$owner") >"$log" 2>&1 </dev/null &
pid=$!
addr=""
for _ in $(seq 1 300); do
  addr=$(sed -n 's/^pglite listening on //p' "$log" | head -n1)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  kill "$pid" 2>/dev/null
  red "PGlite did not start:"; cat "$log" >&2
  exit 1
fi
say "PGlite (pid $pid) listening on $addr"
printf 'export VIBECODER_TEST_PGVECTOR_URL=%q\n' "postgres://postgres@$addr/postgres?sslmode=disable"
