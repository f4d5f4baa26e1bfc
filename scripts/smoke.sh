#!/usr/bin/env bash
# Smoke test against a running server: signup -> API key -> project -> task -> list tasks.
# Usage: scripts/smoke.sh [base-url]   (default http://127.0.0.1:8080). Needs curl and python3.
set -euo pipefail
base=${1:-http://127.0.0.1:8080}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
email="smoke-$RANDOM$RANDOM@example.com"

curl -fsS "$base/health" | tee "$tmp/health"; echo
[ "$(json '["healthy"]' < "$tmp/health")" = True ] || { echo "health is not healthy" >&2; exit 1; }

curl -fsS -c "$tmp/jar" -H 'Content-Type: application/json' -X POST "$base/api/v1/auth/signup" \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\",\"name\":\"Smoke\"}" > "$tmp/signup"
csrf=$(json '["csrf_token"]' < "$tmp/signup")
key=$(curl -fsS -b "$tmp/jar" -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" \
  -X POST "$base/api/v1/apikeys" -d '{"name":"smoke"}' | json '["key"]')
auth=(-H "Authorization: Bearer $key" -H 'Content-Type: application/json')
project=$(curl -fsS "${auth[@]}" -X POST "$base/api/v1/projects" \
  -d '{"name":"demo","repo_url":"https://github.com/example/demo.git"}' | json '["id"]')
curl -fsS "${auth[@]}" -X POST "$base/api/v1/projects/$project/tasks" \
  -d '{"title":"add rate limiting to the login handler"}' > /dev/null
curl -fsS "${auth[@]}" "$base/api/v1/projects/$project/tasks" | tee "$tmp/tasks"; echo
[ "$(json '["items"][0]["title"]' < "$tmp/tasks")" = "add rate limiting to the login handler" ] || { echo "task not listed" >&2; exit 1; }
echo "smoke test passed against $base"
