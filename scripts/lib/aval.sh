# scripts/lib/aval.sh — the one way the scripts start `aval all` for themselves: on a fresh
# topic prefix (so nothing of another run is read), the first free port from 8080, a secret of
# the run's own. Sourced, not run:
#
#   source "$REPO/scripts/lib/aval.sh"
#   aval_start BINARY RUN_ID LOG   # exports AVAL_* for the run, starts `BINARY all`, waits for /readyz
#   aval_register NAME EMAIL FILE  # registers a company; its answer goes to FILE, the token to stdout
#   aval_stop                      # TERM, then KILL after 10 s
#   aval_delete_topics             # the run's topics and their records (a broker carrying fewer
#                                  # partitions collects its garbage faster)
#
# aval_start sets AVAL_PID and AVAL_GATEWAY_URL. Failures print to stderr and return non-zero.

AVAL_PID=""
AVAL_BINARY=""

aval_port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

aval_start() {
  local binary=$1 run_id=$2 log=$3 port=8080 deadline
  while aval_port_in_use "$port"; do
    port=$((port + 1))
    ((port < 8200)) || { echo "no free port between 8080 and 8199" >&2; return 1; }
  done
  AVAL_BINARY=$binary
  export AVAL_TOPIC_PREFIX="$run_id."
  export AVAL_GROUP_PREFIX="$run_id-"
  export AVAL_HTTP_ADDR="127.0.0.1:$port"
  export AVAL_JWT_SECRET="$run_id-secret-for-this-run-only-never-in-production"
  export AVAL_GATEWAY_URL="http://$AVAL_HTTP_ADDR"
  export RUST_LOG="${RUST_LOG:-info}"
  "$binary" all >"$log" 2>&1 &
  AVAL_PID=$!
  # Not a job of the calling shell: aval_stop may have to kill it (a training in progress
  # holds a shutdown), and bash would print "Killed" after the caller's last line.
  disown "$AVAL_PID"
  deadline=$((SECONDS + 120))
  until curl -fs "$AVAL_GATEWAY_URL/readyz" >/dev/null 2>&1; do
    if ! kill -0 "$AVAL_PID" 2>/dev/null; then
      tail -20 "$log" >&2
      echo "aval exited at start (log: $log)" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      tail -20 "$log" >&2
      echo "aval not ready after 120 s (log: $log)" >&2
      return 1
    fi
    sleep 0.3
  done
}

aval_register() {
  local name=$1 email=$2 file=$3
  curl -fsS -X POST "$AVAL_GATEWAY_URL/v1/companies" -H 'content-type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "email": sys.argv[2]}))' "$name" "$email")" \
    >"$file" || { echo "POST /v1/companies failed" >&2; return 1; }
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$file"
}

aval_stop() {
  [[ -n $AVAL_PID ]] && kill -0 "$AVAL_PID" 2>/dev/null || return 0
  kill -TERM "$AVAL_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$AVAL_PID" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$AVAL_PID" 2>/dev/null || true
}

aval_delete_topics() {
  [[ -n $AVAL_BINARY ]] || return 0
  "$AVAL_BINARY" topics delete --yes >/dev/null 2>&1 || true
}
