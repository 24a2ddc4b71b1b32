#!/usr/bin/env bash
# Soak: an exit and an entry node (the shipped JVM flags, scripts/jvm-opts.sh) under mixed traffic for a long time,
# with the WebSocket cut every SOAK_CUT seconds (a relay between the nodes) and floods in the background (every
# SOAK_FLOOD_EVERY seconds, SOAK_FLOOD connections push 1 MB each into a target that never reads). RSS and open file
# descriptors of both nodes (and their buffer budgets) are sampled every SOAK_SAMPLE seconds into a CSV; at the end it
# prints first / last / max of each column. Loopback only; bounded by the duration. Not part of CI.
#
#   bench/soak.sh                  # one hour
#   bench/soak.sh --duration 600   # ten minutes (seconds)
#   SOAK_SAMPLE=10 SOAK_CUT=45 SOAK_FLOOD_EVERY=60 SOAK_FLOOD=2000 SOAK_BUDGET=16M bench/soak.sh --duration 600
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

DURATION=3600
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $DURATION =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 60 ] && [ "$DURATION" -le 86400 ] ||
  { echo "soak: --duration must be 60..86400 seconds" >&2; exit 2; }
SAMPLE=${SOAK_SAMPLE:-10}
CUT=${SOAK_CUT:-45}
FLOOD_EVERY=${SOAK_FLOOD_EVERY:-60}
FLOOD=${SOAK_FLOOD:-2000}
# unset: each node's default (a quarter of its heap or direct memory, whichever is smaller)
BUDGET=${SOAK_BUDGET:-}
BUDGET_OPT=${BUDGET:+-Dsplitstream.buffer.budget=$BUDGET}
. "$ROOT/scripts/jvm-opts.sh"
JAVA_NODE_OPTS=${SOAK_JAVA_OPTS:-$SPLITSTREAM_JAVA_OPTS}
# SOAK_EXIT_JAR / SOAK_ENTRY_JAR: run copies (a rebuild during an hour-long soak would swap classes under the nodes)
EXIT_JAR=${SOAK_EXIT_JAR:-exit-node/target/quarkus-app/quarkus-run.jar}
ENTRY_JAR=${SOAK_ENTRY_JAR:-entry-node/target/quarkus-app/quarkus-run.jar}

log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ ! -f "$EXIT_JAR" ] || [ ! -f "$ENTRY_JAR" ]; then
  log "building the nodes (./mvnw -B -q package -DskipTests) ..."
  ./mvnw -B -q package -DskipTests -pl exit-node,entry-node -am >&2
fi
ulimit -n 65536 2>/dev/null || true
[ "$(ulimit -n)" -gt $((FLOOD * 4 + 500)) ] || die "open files limit $(ulimit -n) is too low for floods of $FLOOD"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/splitstream-soak.XXXXXX")
OUT=${SOAK_OUT:-$WORK/soak.csv}
PIDS=()
cleanup() {
  set +e
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null; done
  sleep 1
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  log "logs and samples kept in $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port"
}
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { log "timed out after ${limit}s waiting for $what"; return 1; }
    sleep 0.5
  done
}
ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/q/health/ready" 2>/dev/null; }
# the exit's meters carry tags (name{...} value): match the name with or without them
metric() { curl -fsS --max-time 2 "http://127.0.0.1:$1/q/metrics" 2>/dev/null | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {print $NF; exit}'; }
rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

javac -d "$WORK/classes" bench/SoakTraffic.java
TOOL=(java -Xmx512m -cp "$WORK/classes" SoakTraffic)

"${TOOL[@]}" targets >"$WORK/targets.out" 2>"$WORK/targets.err" &
PIDS+=($!)
wait_for 20 "the targets" grep -q '^hole ' "$WORK/targets.out" || die "targets did not start"
ECHO=$(awk '$1 == "echo" {print $2}' "$WORK/targets.out")
HOLE=$(awk '$1 == "hole" {print $2}' "$WORK/targets.out")

TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
EXIT_HTTP=$(free_port)
EXIT_MGMT=$(free_port)
ENTRY_MGMT=$(free_port)
ECHO_FWD=$(free_port)
HOLE_FWD=$(free_port)
log "exit :$EXIT_HTTP (management :$EXIT_MGMT), entry management :$ENTRY_MGMT, budget ${BUDGET:-default} each"
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$EXIT_HTTP" \
  -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$EXIT_MGMT" \
  $BUDGET_OPT -Dsplitstream.exit.max-streams=8192 \
  -Dsplitstream.exit.allow="127.0.0.1:$ECHO,127.0.0.1:$HOLE" -jar "$EXIT_JAR" >"$WORK/exit.log" 2>&1 &
EXIT_PID=$!
PIDS+=("$EXIT_PID")
wait_for 60 "the exit node" ready "$EXIT_MGMT" || { tail -n 30 "$WORK/exit.log" >&2; die "exit not ready"; }
"${TOOL[@]}" relay "$EXIT_HTTP" "$CUT" >"$WORK/relay.port" 2>"$WORK/relay.log" &
PIDS+=($!)
wait_for 20 "the cutting relay" test -s "$WORK/relay.port" || die "relay did not start"
RELAY=$(head -n1 "$WORK/relay.port")
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$ENTRY_MGMT" \
  $BUDGET_OPT -Dsplitstream.entry.status=off \
  -Dsplitstream.entry.server="ws://127.0.0.1:$RELAY" -Dsplitstream.entry.transport=websocket \
  -Dsplitstream.entry.reconnect-max=2s -Dsplitstream.entry.state-file="$WORK/transports.json" \
  -Dsplitstream.entry.forwards="127.0.0.1:$ECHO_FWD=127.0.0.1:$ECHO,127.0.0.1:$HOLE_FWD=127.0.0.1:$HOLE" \
  -jar "$ENTRY_JAR" >"$WORK/entry.log" 2>&1 &
ENTRY_PID=$!
PIDS+=("$ENTRY_PID")
wait_for 60 "the entry node" ready "$ENTRY_MGMT" || { tail -n 30 "$WORK/entry.log" >&2; die "entry not ready"; }

log "soaking for ${DURATION}s: 4 echo workers, cuts every ${CUT}s, floods of $FLOOD every ${FLOOD_EVERY}s; samples every ${SAMPLE}s -> $OUT"
"${TOOL[@]}" traffic "$ECHO_FWD" "$HOLE_FWD" "$DURATION" "$FLOOD_EVERY" "$FLOOD" >"$WORK/traffic.out" 2>"$WORK/traffic.log" &
TRAFFIC_PID=$!
PIDS+=("$TRAFFIC_PID")

echo "seconds,exit_rss_kb,exit_fds,exit_buffer_held_bytes,entry_rss_kb,entry_fds,entry_buffer_held_bytes" >"$OUT"
START=$SECONDS
while [ $((SECONDS - START)) -le "$DURATION" ]; do
  kill -0 "$EXIT_PID" 2>/dev/null || die "the exit node died (see $WORK/exit.log)"
  kill -0 "$ENTRY_PID" 2>/dev/null || die "the entry node died (see $WORK/entry.log)"
  echo "$((SECONDS - START)),$(rss_kb "$EXIT_PID"),$(fds "$EXIT_PID"),$(metric "$EXIT_MGMT" splitstream_exit_buffer_held_bytes),$(rss_kb "$ENTRY_PID"),$(fds "$ENTRY_PID"),$(metric "$ENTRY_MGMT" splitstream_entry_buffer_held_bytes)" >>"$OUT"
  sleep "$SAMPLE"
done
wait "$TRAFFIC_PID" || true

cat "$WORK/traffic.out"
grep -c 'cut ' "$WORK/relay.log" | xargs printf 'relay: %s cuts\n'
printf 'OutOfMemoryError lines: exit %s, entry %s\n' \
  "$(grep -c OutOfMemoryError "$WORK/exit.log" || true)" "$(grep -c OutOfMemoryError "$WORK/entry.log" || true)"
printf 'event loops blocked (BlockedThreadChecker warnings): exit %s, entry %s\n' \
  "$(grep -c BlockedThreadChecker "$WORK/exit.log" || true)" "$(grep -c BlockedThreadChecker "$WORK/entry.log" || true)"
printf 'entry: refused %s streams for the budget, evicted %s stalled\n' \
  "$(metric "$ENTRY_MGMT" splitstream_entry_buffer_refused_total)" "$(grep -o 'reset [0-9]* stalled' "$WORK/entry.log" | awk '{s += $2} END {print s + 0}')"
awk -F, 'NR == 1 { for (i = 2; i <= NF; i++) name[i] = $i; next }
  { for (i = 2; i <= NF; i++) { v = $i + 0; if (NR == 2) first[i] = v; last[i] = v; if (v > max[i]) max[i] = v } }
  END { printf "%-26s %14s %14s %14s\n", "column", "first", "last", "max";
        for (i = 2; i in name; i++) printf "%-26s %14d %14d %14d\n", name[i], first[i], last[i], max[i] }' "$OUT"
