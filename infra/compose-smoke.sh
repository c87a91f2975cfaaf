#!/usr/bin/env bash
# The compose stack, end to end: starts infra/docker-compose.yml (Kafka, Redis, the four workers
# and the gateway, from the image recfleet:0.1.0 built beforehand), sends clickstream events
# through the gateway's HTTP API and waits until a recommendation made of those events' items
# comes back — events in → ingest → features (popularity) → scorer → recommendations out. Ports
# are free ones on 127.0.0.1; the stack and its volumes are removed at the end, its logs printed
# on failure. Needs docker and docker-compose (Debian's package) or `docker compose`, and curl.
# Usage: infra/compose-smoke.sh   (RECFLEET_SMOKE_TIMEOUT seconds per wait, default 600: a loaded 2-core machine took 250 s to a ready gateway)
set -euo pipefail
cd "$(dirname "$0")"

timeout=${RECFLEET_SMOKE_TIMEOUT:-600}
project="recfleet-smoke-$$"
if command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose); else compose=(docker compose); fi
compose+=(-f docker-compose.yml -p "$project")

free_port() { node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"; }
RECFLEET_KAFKA_PORT=$(free_port)
RECFLEET_REDIS_PORT=$(free_port)
RECFLEET_GATEWAY_PORT=$(free_port)
export RECFLEET_KAFKA_PORT RECFLEET_REDIS_PORT RECFLEET_GATEWAY_PORT
api="http://127.0.0.1:$RECFLEET_GATEWAY_PORT"
say() { echo "compose-smoke ($((SECONDS))s): $*"; }

ok=false
finish() {
  if [ "$ok" != true ]; then
    echo "compose-smoke: FAILED — last log lines of each service:" >&2
    "${compose[@]}" logs --no-color --tail 40 >&2 || true
  fi
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}
trap finish EXIT

# wait_for WHAT COMMAND…: retries the command every 2 s until it succeeds or $timeout passes.
wait_for() {
  local what=$1 deadline=$((SECONDS + timeout))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { echo "compose-smoke: timed out after ${timeout}s waiting for $what" >&2; return 1; }
    sleep 2
  done
}

say "starting the stack (project $project, gateway on $api)"
"${compose[@]}" up -d --no-build
wait_for "the gateway's API" curl -fs -o /dev/null "$api/openapi.json"
say "gateway up"

# A key with both scopes, made by the CLI in the same image (it writes the key's hash to Redis).
key=$("${compose[@]}" run --rm --no-deps -T gateway recfleet keys create --name smoke --scope events:write,recs:read |
  sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
[ -n "$key" ] || { echo "compose-smoke: keys create printed no key" >&2; exit 1; }
auth=(-H "Authorization: Bearer $key")

# 40 users, 5 clicks each on 12 items: enough for the features worker's popularity list.
run="smoke$$"
events=$(node -e "
  const now = Date.now(), events = [];
  for (let u = 0; u < 40; u++)
    for (let j = 0; j < 5; j++)
      events.push({ eventId: '$run-' + u + '-' + j, userId: '$run-user' + u, itemId: '$run-item' + ((u + j * 5) % 12), type: 'click', ts: now - 60000 + u * 100 + j });
  console.log(JSON.stringify({ events }));")
post_events() {
  curl -fsS "${auth[@]}" -H 'content-type: application/json' --data "$events" "$api/v1/events" >"/tmp/$project-events.json" 2>/dev/null
}
# The first POST may race topic creation by the workers: retried until accepted.
wait_for "the gateway to accept events" post_events
accepted=$(grep -o '"status":"accepted"' "/tmp/$project-events.json" | wc -l)
rm -f "/tmp/$project-events.json"
[ "$accepted" -eq 200 ] || { echo "compose-smoke: $accepted of 200 events accepted" >&2; exit 1; }
say "200 events accepted"

# Recommendations for a new user: the popular items, which exist only once the events went
# through ingest and features; the scorer answers over Kafka, the gateway returns it.
answer=""
recommended() {
  answer=$(curl -fsS "${auth[@]}" "$api/v1/recommendations?user=$run-newcomer&k=5" 2>/dev/null) &&
    grep -q "\"itemId\":\"$run-item" <<<"$answer"
}
wait_for "recommendations made of the events' items" recommended
say "recommendation: $answer"
ok=true
say "passed"
