#!/usr/bin/env bash
# Publishes an agent run's five golden-path events to a user through POST /v1/publish, the way
# a backend in any language can: one request per event, each with an idempotency key.
#
#   HERALD_PUBLISH_KEY=<key> ./publish-run.sh <user_id> [run_id]
#
# HERALD_URL defaults to http://localhost:8080. Running it again with the same run_id publishes
# nothing new: every answer then says "duplicate":true.
set -euo pipefail

herald_url=${HERALD_URL:-http://localhost:8080}
publish_key=${HERALD_PUBLISH_KEY:?set HERALD_PUBLISH_KEY (npm start and npm run fleet print one)}
user_id=${1:?usage: publish-run.sh <user_id> [run_id]}
run_id=${2:-run-$(date +%s)-$RANDOM}
# The JSON below is put together by hand: keep ids to characters that need no escaping.
# (A real backend builds the body with its JSON library.)
for id in "$user_id" "$run_id"; do
  [[ $id =~ ^[A-Za-z0-9._:-]{1,100}$ ]] || { echo "publish-run.sh: use letters, digits and . _ : - in ids (got '$id')" >&2; exit 2; }
done

response=$(mktemp)
trap 'rm -f "$response"' EXIT

# publish <type> <data as JSON>
publish() {
  local type=$1 data=$2
  local body="{\"user_id\":\"$user_id\",\"run_id\":\"$run_id\",\"type\":\"$type\",\"data\":$data,\"idempotency_key\":\"$run_id:$type\"}"
  local attempt status
  for attempt in 1 2 3 4 5; do
    : >"$response"
    status=$(curl -sS -o "$response" -w '%{http_code}' --max-time 10 -X POST "$herald_url/v1/publish" \
      -H "authorization: Bearer $publish_key" -H 'content-type: application/json' --data-binary "$body") || status=000
    case $status in
      200)
        cat "$response"; echo
        return 0 ;;
      503 | 000)
        # 503 broker_unavailable: not published. 503 outcome_unknown, or no answer at all: it may
        # have been. Either way, sending the same body again is safe: its idempotency_key makes
        # the gateway store the event once (if it was stored, the answer says "duplicate":true).
        # Retry before the retry_before in an outcome_unknown answer (the idempotency window,
        # 5 minutes by default); after it, a retry could publish a second copy.
        echo "publish-run.sh: $type: HTTP $status, retrying ($attempt)" >&2
        [[ -s $response ]] && cat "$response" >&2 && echo >&2
        sleep "$attempt" ;;
      *)
        # 400: the request is wrong and will stay wrong; 401: the publish key is wrong.
        echo "publish-run.sh: $type: HTTP $status" >&2
        cat "$response" >&2; echo >&2
        return 1 ;;
    esac
  done
  echo "publish-run.sh: $type: giving up" >&2
  return 1
}

# Each event is sent after the previous one was answered: the user sees them in that order.
publish agent_started '{"prompt":"Find the cheapest flight to Lisbon"}'
publish agent_thinking '{"thought":"I should search current fares"}'
publish tool_executing '{"tool":"flight_search","input":{"to":"LIS"}}'
publish tool_completed '{"tool":"flight_search","output":{"cheapest":"EUR 89"}}'
publish agent_completed '{"answer":"EUR 89 on Tuesday"}'
