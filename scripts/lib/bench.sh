# scripts/lib/bench.sh — sourced by the benchmarks: one way to build aval and the load
# generator, start its roles as separate processes on a fresh topic prefix, and get a company
# with an active model. (Scripts that need aval as one process use scripts/lib/aval.sh.)
#
#   bench_start NAME                     stack up, builds, starts gateway/ingest/train/score;
#                                        sets AVAL, LOAD, WORK, RUN_ID, *_PID; stops all on exit
#   bench_company_with_model CUSTOMERS ORDERS
#                                        registers, uploads a synth dataset, waits for a model;
#                                        sets TOKEN, COMPANY, VERSION
#   bench_pid_of_port PORT               the pid listening on PORT

bench_pid_of_port() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }

bench_start() {
  local name=$1
  cd "$REPO"
  "$REPO/scripts/stack" up >/dev/null
  set -a; source "$REPO/.stack.env"; set +a
  echo "[$name] building the release binary and the load generator"
  cargo build --release --locked --quiet --bin aval
  AVAL="${CARGO_TARGET_DIR:-$REPO/target}/release/aval"
  LOAD=$(cargo bench --locked --quiet -p aval-gateway --bench decisions_load --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "decisions_load":
        print(m["executable"])')
  [[ -x $LOAD ]] || { echo "[$name] cannot build the load generator" >&2; exit 1; }
  WORK="$(mktemp -d "/tmp/aval-$name.XXXXXX")"
  RUN_ID="$name$(date +%s)"
  export AVAL_TOPIC_PREFIX="$RUN_ID."
  export AVAL_GROUP_PREFIX="$RUN_ID-"
  export AVAL_HTTP_ADDR="127.0.0.1:18080"
  export AVAL_JWT_SECRET="bench-secret-bench-secret-bench-secret"
  export AVAL_GATEWAY_URL="http://$AVAL_HTTP_ADDR"
  export RUST_LOG=warn
  BENCH_PIDS=()
  trap bench_stop EXIT
  "$AVAL" topics apply >/dev/null
  "$AVAL" gateway 2>"$WORK/gateway.log" & BENCH_PIDS+=($!); GATEWAY_PID=$!
  "$AVAL" ingest 2>"$WORK/ingest.log" & BENCH_PIDS+=($!); INGEST_PID=$!
  "$AVAL" train 2>"$WORK/train.log" & BENCH_PIDS+=($!); TRAIN_PID=$!
  "$AVAL" score 2>"$WORK/score.log" & BENCH_PIDS+=($!); SCORE_PID=$!
  local deadline=$((SECONDS + 60))
  until curl -fs "$AVAL_GATEWAY_URL/readyz" >/dev/null; do
    ((SECONDS < deadline)) || { echo "[$name] gateway not ready" >&2; tail "$WORK/gateway.log" >&2; exit 1; }
    sleep 0.2
  done
}

bench_stop() {
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # This run's topics and their records go too: left behind, every run would add to the
  # partitions the broker carries, and its collections get slower with them.
  "$AVAL" topics delete --yes >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

bench_company_with_model() {
  local customers=$1 orders=$2
  TOKEN=$(curl -fs -X POST "$AVAL_GATEWAY_URL/v1/companies" -H 'content-type: application/json' \
    -d "{\"name\": \"Bench $RUN_ID\", \"email\": \"bench+$RUN_ID@example.com\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  export AVAL_TOKEN="$TOKEN"
  COMPANY=$(python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sub"])' "$TOKEN")
  echo "[bench] generating and uploading $orders orders for $customers customers"
  "$AVAL" synth --customers "$customers" --orders "$orders" --seed 7 --out "$WORK/data" >/dev/null
  "$AVAL" upload "$WORK/data" >"$WORK/upload.log" 2>&1 || { cat "$WORK/upload.log" >&2; exit 1; }
  echo "[bench] waiting for a trained, active model"
  local deadline=$((SECONDS + 900))
  until [[ $(curl -fs "$AVAL_GATEWAY_URL/v1/models" -H "authorization: Bearer $TOKEN") =~ \"active_version\":([0-9]+) ]]; do
    ((SECONDS < deadline)) || { echo "[bench] no active model after 900 s" >&2; tail "$WORK/train.log" >&2; exit 1; }
    sleep 1
  done
  VERSION=${BASH_REMATCH[1]}
  echo "[bench] model version $VERSION active"
}
