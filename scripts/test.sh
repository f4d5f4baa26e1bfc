#!/usr/bin/env bash
# The project's test command (README: "Running the tests"); CI runs exactly this.
#  1. gofmt and go vet must be clean.
#  2. PostgreSQL and Redis must answer: started here when installed but stopped. Under
#     CI=true a missing service fails the run; elsewhere its tests are skipped, loudly.
#  3. Each run gets fresh test databases: the PostgreSQL database vibecoder_test is
#     dropped (tests recreate it, one schema per test) and Redis DB 9 is flushed.
#  4. The npm client test's dependencies (test/npm) are installed with npm ci. Under
#     CI=true a missing node/npm fails the run; elsewhere that test is skipped, loudly.
#  5. go test -race ./...
set -uo pipefail
cd "$(dirname "$0")/.."

red() { printf '\033[1;31m%s\033[0m\n' "$*" >&2; }
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

PG_ADMIN_URL=${VIBECODER_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
REDIS_TEST_URL=${VIBECODER_TEST_REDIS_URL:-redis://127.0.0.1:6379/9}
export VIBECODER_TEST_DATABASE_URL=$PG_ADMIN_URL VIBECODER_TEST_REDIS_URL=$REDIS_TEST_URL

say "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then red "gofmt needed on:"; echo "$unformatted" >&2; exit 1; fi

say "go vet"
go vet ./... || { red "go vet failed"; exit 1; }

missing=()

pg_up() { pg_isready -q -d "$PG_ADMIN_URL" 2>/dev/null; }
say "PostgreSQL"
if ! pg_up && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "PostgreSQL is not answering; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if pg_up; then
  psql -q -d "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS vibecoder_test WITH (FORCE)" >/dev/null \
    || { red "could not reset the vibecoder_test database"; exit 1; }
  echo "PostgreSQL is up; vibecoder_test reset"
else
  missing+=("PostgreSQL at $PG_ADMIN_URL")
fi

redis_up() { redis-cli -u "$REDIS_TEST_URL" ping 2>/dev/null | grep -q PONG; }
say "Redis"
if ! redis_up && command -v redis-server >/dev/null; then
  echo "Redis is not answering; starting it"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
if redis_up; then
  redis-cli -u "$REDIS_TEST_URL" flushdb >/dev/null
  echo "Redis is up; test DB flushed"
else
  missing+=("Redis at $REDIS_TEST_URL")
fi

if [ ${#missing[@]} -gt 0 ]; then
  for m in "${missing[@]}"; do
    if [ "${CI:-}" = "true" ]; then
      red "CI=true and $m is not reachable: install/start it (see README, 'Running the tests')"
    else
      red "WARNING: $m is not reachable; its tests will be SKIPPED. Start it or set VIBECODER_TEST_DATABASE_URL / VIBECODER_TEST_REDIS_URL."
    fi
  done
  [ "${CI:-}" = "true" ] && exit 1
fi

say "npm ci (test/npm)"
if command -v node >/dev/null && command -v npm >/dev/null; then
  npm ci --prefix test/npm --no-audit --no-fund || { red "npm ci in test/npm failed"; exit 1; }
elif [ "${CI:-}" = "true" ]; then
  red "CI=true and node/npm are not installed: install Node.js 20 or later"
  exit 1
else
  red "WARNING: node/npm not found; the openai npm client test will be SKIPPED. Install Node.js 20+."
fi

# --- PGlite with pgvector (index/vector tests; see scripts/pglite.sh) ---------------------
# Starts a PGlite server that exits with this script and exports VIBECODER_TEST_PGVECTOR_URL.
pglite_env=$(scripts/pglite.sh --owner $$) || { red "scripts/pglite.sh failed"; exit 1; }
eval "$pglite_env"
# --- end PGlite ---------------------------------------------------------------------------

# --- system packages the tests need (bubblewrap for internal/sandbox; see scripts/install-deps.sh) ---
scripts/install-deps.sh || { red "scripts/install-deps.sh failed"; exit 1; }

say "go test -race ./..."
go test -race -count=1 -timeout 30m "$@" ./...
