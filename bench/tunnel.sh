#!/usr/bin/env bash
# Tunnel benchmark: a Splitstream exit + entry on loopback against direct TCP and `ssh -L` (a throwaway sshd),
# measured in the same run: upload throughput with 1 and 8 connections, 1-byte ping-pong RTT p50/p99, CPU and peak
# RSS of the processes in the middle, RSS with 1,000 idle connections, and throughput/RTT over a WAN-like path (a relay
# adding BENCH_DELAY_MS each way). Then each transport of BENCH_TRANSPORTS (its own entry against the same exit), with
# direct TCP measured again right before it. Prints tables with ratios.
# Bounded: about 1.5-3 minutes. Not a test: numbers depend on the machine and its load.
#
#   bench/tunnel.sh                 # BENCH_SECONDS=4 per throughput run, BENCH_IDLE=1000 idle connections, BENCH_DELAY_MS=10
#   BENCH_JAVA_OPTS='-Xmx256m' bench/tunnel.sh
#   BENCH_TRANSPORTS=websocket,http bench/tunnel.sh   # default websocket,websocket-split,http,http-split; '' skips
#   BENCH_EXPOSE=0 bench/tunnel.sh                    # skips the public-port (expose) vs forward rows
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

SECONDS_PER_RUN=${BENCH_SECONDS:-4}
IDLE=${BENCH_IDLE:-1000}
PINGS=${BENCH_PINGS:-3000}
TRANSPORTS=${BENCH_TRANSPORTS-websocket,websocket-split,http,http-split}
. "$ROOT/scripts/jvm-opts.sh"
JAVA_NODE_OPTS=${BENCH_JAVA_OPTS:-$SPLITSTREAM_JAVA_OPTS}
EXIT_JAR=exit-node/target/quarkus-app/quarkus-run.jar
ENTRY_JAR=entry-node/target/quarkus-app/quarkus-run.jar
HZ=$(getconf CLK_TCK)

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in java javac ssh sshd ssh-keygen; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool is needed (scripts/install-test-deps.sh)"
done
SSHD=$(command -v sshd || echo /usr/sbin/sshd)

if [ ! -f "$EXIT_JAR" ] || [ ! -f "$ENTRY_JAR" ]; then
  log "building the nodes (./mvnw -B -q package -DskipTests) ..."
  ./mvnw -B -q package -DskipTests -pl exit-node,entry-node -am >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/splitstream-bench.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
  set +e
  exec 7>&- 2>/dev/null
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((IDLE * 3 + 200)) ] || die "open files limit $(ulimit -n) is too low for $IDLE idle connections"

# below the kernel's ephemeral range (32768+ by default): the 1,000 idle connections and the nodes' outbound sockets
# take ports there, and a listener chosen among them can find its port taken by the time it binds
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (EPHEMERAL_LOW > 12000 ? EPHEMERAL_LOW - 10000 : 20000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port"
}

# wait_for SECONDS DESCRIPTION COMMAND...
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      log "timed out after ${limit}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# $1: a management port (health and metrics live there, not on the tunnel port)
ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/q/health/ready" 2>/dev/null; }

# --- /proc helpers ------------------------------------------------------------------------------------------------
# pid and all its descendants
tree() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      for (p in parent) {
        q = p
        for (depth = 0; depth < 20 && q != "" && q != 0; depth++) {
          if (q == root) { printf "%s ", p; break }
          q = parent[q]
        }
      }
    }'
}
# sum of a /proc/<pid>/status field (kB) over pids
status_kb() {
  local field=$1 total=0 v
  shift
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo $total
}
# CPU ticks (user + system) over pids
cpu_ticks() {
  local total=0 v
  for p in "$@"; do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || true)
    total=$((total + ${v:-0}))
  done
  echo $total
}

# --- the target server and the load tool -------------------------------------------------------------------------
log "compiling bench/TunnelBench.java"
javac -d "$WORK/classes" bench/TunnelBench.java
BENCH=(java -Xmx512m -cp "$WORK/classes" TunnelBench)
mkfifo "$WORK/server.in"
exec 7<>"$WORK/server.in"
"${BENCH[@]}" server <&7 >"$WORK/server.port" 2>"$WORK/server.err" &
PIDS+=($!)
wait_for 20 "the target server" test -s "$WORK/server.port" || die "the target server did not start"
TARGET=$(head -n1 "$WORK/server.port")

# --- Splitstream exit + entry --------------------------------------------------------------------------------------
TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
EXIT_HTTP=$(free_port)
EXIT_MGMT=$(free_port)
ENTRY_MGMT=$(free_port)
FWD=$(free_port)
log "starting the exit (:$EXIT_HTTP) and the entry (forward :$FWD -> target :$TARGET)"
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$EXIT_HTTP" \
  -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$EXIT_MGMT" \
  -Dsplitstream.exit.allow="127.0.0.1:$TARGET" -jar "$EXIT_JAR" >"$WORK/exit.log" 2>&1 &
EXIT_PID=$!
PIDS+=("$EXIT_PID")
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$ENTRY_MGMT" \
  -Dsplitstream.entry.server="ws://127.0.0.1:$EXIT_HTTP" -Dsplitstream.entry.transport=websocket \
  -Dsplitstream.entry.state-file="$WORK/transports.json" -Dsplitstream.entry.forwards="127.0.0.1:$FWD=127.0.0.1:$TARGET" \
  -jar "$ENTRY_JAR" >"$WORK/entry.log" 2>&1 &
ENTRY_PID=$!
PIDS+=("$ENTRY_PID")
node_failed() {
  log "--- exit.log"; tail -n 30 "$WORK/exit.log" >&2
  log "--- entry.log"; tail -n 30 "$WORK/entry.log" >&2
  die "$1"
}
wait_for 60 "the exit node" ready "$EXIT_MGMT" || node_failed "exit not ready"
wait_for 60 "the entry node" ready "$ENTRY_MGMT" || node_failed "entry not ready"
wait_for 30 "the entry's session" grep -q 'session established' "$WORK/entry.log" || node_failed "no session"

# --- ssh -L through a throwaway sshd --------------------------------------------------------------------------------
SSHD_PORT=$(free_port)
SSH_FWD=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
[ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd
cat >"$WORK/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
EOF
"$SSHD" -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
PIDS+=("$SSHD_PID")
wait_for 20 "sshd" accepts "$SSHD_PORT" || { cat "$WORK/sshd.log" >&2; die "sshd did not start"; }
ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  -o ExitOnForwardFailure=yes -i "$WORK/client_key" -p "$SSHD_PORT" \
  -L "127.0.0.1:$SSH_FWD:127.0.0.1:$TARGET" "$(id -un)@127.0.0.1" 2>"$WORK/ssh.log" &
SSH_PID=$!
PIDS+=("$SSH_PID")
wait_for 20 "ssh -L" accepts "$SSH_FWD" || { cat "$WORK/ssh.log" >&2; die "ssh -L did not start"; }

# --- measurements --------------------------------------------------------------------------------------------------
declare -A R
split_pids() { echo "$EXIT_PID $ENTRY_PID"; }
ssh_pids() { echo "$SSH_PID $(tree "$SSHD_PID")"; }

run_tool() { timeout 180 "${BENCH[@]}" "$@"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

log "warming up the tunnel"
run_tool throughput "$FWD" 2 2 >/dev/null
run_tool rtt "$FWD" 2000 >/dev/null

for path in direct splitstream ssh; do
  case $path in
    direct) port=$TARGET; pids="" ;;
    splitstream) port=$FWD; pids=$(split_pids) ;;
    ssh) port=$SSH_FWD; pids=$(ssh_pids) ;;
  esac
  for conns in 1 8; do
    # shellcheck disable=SC2086
    before=$(cpu_ticks $pids)
    out=$(run_tool throughput "$port" "$conns" "$SECONDS_PER_RUN")
    # shellcheck disable=SC2086
    after=$(cpu_ticks $pids)
    R[$path.tp$conns]=$(field mib_per_s <<<"$out")
    bytes=$(field bytes <<<"$out")
    # CPU seconds spent by the processes in the middle per GiB carried
    if [ -n "$pids" ]; then
      R[$path.cpu$conns]=$(awk -v t=$((after - before)) -v hz="$HZ" -v b="$bytes" \
        'BEGIN { if (b > 0) printf "%.2f", (t / hz) / (b / 1073741824); else print "-" }')
    else
      R[$path.cpu$conns]="-"
    fi
    log "$path, $conns connection(s): ${R[$path.tp$conns]} MiB/s, ${R[$path.cpu$conns]} CPU-s/GiB in the middle"
  done
  out=$(run_tool rtt "$port" "$PINGS")
  R[$path.p50]=$(field p50_us <<<"$out")
  R[$path.p99]=$(field p99_us <<<"$out")
  log "$path, ping-pong: p50 ${R[$path.p50]} us, p99 ${R[$path.p99]} us"
done

# idle connections: RSS of what sits in the middle, before and while $IDLE connections are open
idle_run() {
  local name=$1 port=$2 pids_fn=$3 before during
  rm -f "$WORK/stop"
  # shellcheck disable=SC2046
  before=$(status_kb VmRSS $($pids_fn))
  run_tool idle "$port" "$IDLE" "$WORK/stop" 120 >"$WORK/idle.out" 2>&1 &
  local tool=$!
  wait_for 120 "$IDLE idle connections via $name" grep -q ready "$WORK/idle.out" ||
    { cat "$WORK/idle.out" >&2; die "idle run failed"; }
  # shellcheck disable=SC2046
  during=$(status_kb VmRSS $($pids_fn))
  touch "$WORK/stop"
  wait "$tool" || true
  R[$name.idle_before]=$((before / 1024))
  R[$name.idle_during]=$((during / 1024))
  R[$name.idle_open_ms]=$(field open_ms <"$WORK/idle.out")
  log "$name, $IDLE idle connections: RSS $((before / 1024)) -> $((during / 1024)) MiB (opened in ${R[$name.idle_open_ms]} ms)"
}
idle_run splitstream "$FWD" split_pids
idle_run ssh "$SSH_FWD" ssh_pids

# --- a WAN-like path: each path's middle hop through a relay adding DELAY ms each way --------------------------------
DELAY=${BENCH_DELAY_MS:-10}
start_delay() { # start_delay NAME TARGETPORT VAR: starts a relay to TARGETPORT, puts its port in VAR
  local fifo="$WORK/delay-$1.in" fd
  mkfifo "$fifo"
  "${BENCH[@]}" delay "$2" "$DELAY" <"$fifo" >"$WORK/delay-$1.port" 2>"$WORK/delay-$1.err" &
  PIDS+=($!)
  exec {fd}>"$fifo" # holds the relay's stdin open; closing it ends the relay
  DELAY_FDS+=("$fd")
  wait_for 20 "the $1 delay relay" test -s "$WORK/delay-$1.port" || die "delay relay $1 did not start"
  printf -v "$3" '%s' "$(head -n1 "$WORK/delay-$1.port")"
}
DELAY_FDS=()
log "WAN-like path: +${DELAY} ms each way between the two halves of each path"
start_delay direct "$TARGET" WAN_DIRECT
start_delay exit "$EXIT_HTTP" WAN_EXIT
start_delay sshd "$SSHD_PORT" WAN_SSHD
ENTRY2_MGMT=$(free_port)
FWD2=$(free_port)
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$ENTRY2_MGMT" \
  -Dsplitstream.entry.server="ws://127.0.0.1:$WAN_EXIT" -Dsplitstream.entry.transport=websocket \
  -Dsplitstream.entry.state-file="$WORK/transports-wan.json" -Dsplitstream.entry.forwards="127.0.0.1:$FWD2=127.0.0.1:$TARGET" \
  -jar "$ENTRY_JAR" >"$WORK/entry-wan.log" 2>&1 &
PIDS+=($!)
SSH_FWD2=$(free_port)
ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  -o ExitOnForwardFailure=yes -i "$WORK/client_key" -p "$WAN_SSHD" \
  -L "127.0.0.1:$SSH_FWD2:127.0.0.1:$TARGET" "$(id -un)@127.0.0.1" 2>"$WORK/ssh-wan.log" &
PIDS+=($!)
wait_for 60 "the WAN entry" ready "$ENTRY2_MGMT" || { tail -n 30 "$WORK/entry-wan.log" >&2; die "WAN entry not ready"; }
wait_for 30 "ssh -L over the WAN path" accepts "$SSH_FWD2" || { cat "$WORK/ssh-wan.log" >&2; die "WAN ssh -L did not start"; }
run_tool throughput "$FWD2" 1 2 >/dev/null # warm-up
for path in direct splitstream ssh; do
  case $path in
    direct) port=$WAN_DIRECT ;;
    splitstream) port=$FWD2 ;;
    ssh) port=$SSH_FWD2 ;;
  esac
  out=$(run_tool throughput "$port" 1 "$SECONDS_PER_RUN")
  R[$path.wan_tp]=$(field mib_per_s <<<"$out")
  out=$(run_tool rtt "$port" 100)
  R[$path.wan_p50]=$(awk -v us="$(field p50_us <<<"$out")" 'BEGIN { printf "%.1f", us / 1000 }')
  log "$path over the WAN path: ${R[$path.wan_tp]} MiB/s, ping-pong p50 ${R[$path.wan_p50]} ms"
done
for fd in "${DELAY_FDS[@]}"; do eval "exec $fd>&-"; done

# --- transports: one entry per transport against the same exit, direct TCP measured right before each -----------
# transport_opts KIND: the entry's transport settings
transport_opts() {
  local ws="ws://127.0.0.1:$EXIT_HTTP" http="http://127.0.0.1:$EXIT_HTTP"
  case $1 in
    # a ws:// URL means WebSocket (auto tries it first)
    websocket) echo "-Dsplitstream.entry.server=$ws -Dsplitstream.entry.transport=websocket" ;;
    websocket-split) echo "-Dsplitstream.entry.upstream=$ws -Dsplitstream.entry.downstream=$ws -Dsplitstream.entry.transport=websocket" ;;
    http) echo "-Dsplitstream.entry.server=$http -Dsplitstream.entry.transport=http" ;;
    http-split) echo "-Dsplitstream.entry.upstream=$http -Dsplitstream.entry.downstream=$http -Dsplitstream.entry.transport=http" ;;
    *) return 1 ;;
  esac
}
IFS=, read -r -a TRANSPORT_LIST <<<"$TRANSPORTS"
for kind in "${TRANSPORT_LIST[@]}"; do
  opts=$(transport_opts "$kind") || die "unknown transport '$kind' in BENCH_TRANSPORTS"
  T_MGMT=$(free_port)
  T_FWD=$(free_port)
  log "transport $kind: starting an entry (forward :$T_FWD)"
  # shellcheck disable=SC2086
  SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$T_MGMT" $opts \
    -Dsplitstream.entry.state-file="$WORK/transports-$kind.json" -Dsplitstream.entry.forwards="127.0.0.1:$T_FWD=127.0.0.1:$TARGET" -jar "$ENTRY_JAR" >"$WORK/entry-$kind.log" 2>&1 &
  T_PID=$!
  PIDS+=("$T_PID")
  if ! wait_for 60 "the $kind entry" ready "$T_MGMT" ||
    ! wait_for 60 "the $kind session" grep -q 'session established' "$WORK/entry-$kind.log"; then
    log "transport $kind: no session; its log:"
    tail -n 15 "$WORK/entry-$kind.log" >&2
    R[t.$kind.state]="no session"
    kill "$T_PID" 2>/dev/null || true
    continue
  fi
  R[t.$kind.state]=$(sed -n 's/.*session established [0-9a-f]* \(transport=[^ ]*\).*/\1/p' "$WORK/entry-$kind.log" | head -n1)
  run_tool throughput "$T_FWD" 2 2 >/dev/null || true # warm-up
  for conns in 1 8; do
    out=$(run_tool throughput "$TARGET" "$conns" "$SECONDS_PER_RUN")
    R[t.$kind.direct$conns]=$(field mib_per_s <<<"$out")
    if out=$(run_tool throughput "$T_FWD" "$conns" "$SECONDS_PER_RUN"); then
      R[t.$kind.tp$conns]=$(field mib_per_s <<<"$out")
    else
      R[t.$kind.tp$conns]="-"
    fi
  done
  if out=$(run_tool rtt "$T_FWD" "$((PINGS / 3))"); then
    R[t.$kind.p50]=$(field p50_us <<<"$out")
  else
    R[t.$kind.p50]="-"
  fi
  R[t.$kind.peak]=$(($(status_kb VmHWM "$T_PID") / 1024))
  log "transport $kind (${R[t.$kind.state]}): ${R[t.$kind.tp1]} / ${R[t.$kind.tp8]} MiB/s with 1 / 8 connections" \
    "(direct ${R[t.$kind.direct1]} / ${R[t.$kind.direct8]}), ping-pong p50 ${R[t.$kind.p50]} us"
  kill "$T_PID" 2>/dev/null || true
  wait "$T_PID" 2>/dev/null || true
done

# --- expose: a public port on a second exit, served by an agent next to the target, vs the forward path ----------
if [ "${BENCH_EXPOSE:-1}" != 0 ]; then
  X_HTTP=$(free_port)
  X_MGMT=$(free_port)
  X_PUB=$(free_port)
  A_MGMT=$(free_port)
  log "expose: an exit with public port :$X_PUB and an agent exposing the target"
  # shellcheck disable=SC2086
  SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$X_HTTP" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$X_MGMT" -Dsplitstream.exit.public-ports="$X_PUB-$X_PUB" -Dsplitstream.exit.public-host=127.0.0.1 \
    -jar "$EXIT_JAR" >"$WORK/exit-expose.log" 2>&1 &
  PIDS+=($!)
  wait_for 60 "the expose exit" ready "$X_MGMT" || { tail -n 30 "$WORK/exit-expose.log" >&2; die "expose exit not ready"; }
  # shellcheck disable=SC2086
  SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$A_MGMT" \
    -Dsplitstream.entry.server="ws://127.0.0.1:$X_HTTP" -Dsplitstream.entry.transport=websocket \
    -Dsplitstream.entry.state-file="$WORK/transports-agent.json" -Dsplitstream.entry.expose="bench=127.0.0.1:$TARGET" \
    -jar "$ENTRY_JAR" >"$WORK/agent.log" 2>&1 &
  PIDS+=($!)
  if wait_for 60 "the agent's public port" grep -q "exposing bench" "$WORK/agent.log"; then
    run_tool throughput "$X_PUB" 2 2 >/dev/null || true # warm-up
    for conns in 1 8; do
      out=$(run_tool throughput "$FWD" "$conns" "$SECONDS_PER_RUN")
      R[x.fwd$conns]=$(field mib_per_s <<<"$out")
      out=$(run_tool throughput "$X_PUB" "$conns" "$SECONDS_PER_RUN")
      R[x.pub$conns]=$(field mib_per_s <<<"$out")
    done
    R[x.fwd_p50]=$(field p50_us <<<"$(run_tool rtt "$FWD" "$((PINGS / 3))")")
    R[x.pub_p50]=$(field p50_us <<<"$(run_tool rtt "$X_PUB" "$((PINGS / 3))")")
    log "expose: public port ${R[x.pub1]} / ${R[x.pub8]} MiB/s (forward ${R[x.fwd1]} / ${R[x.fwd8]}), p50 ${R[x.pub_p50]} us (forward ${R[x.fwd_p50]})"
  else
    tail -n 20 "$WORK/agent.log" >&2
    log "expose: the agent got no public port; row skipped"
  fi
fi

# shellcheck disable=SC2046
R[splitstream.peak]=$(($(status_kb VmHWM $(split_pids)) / 1024))
# shellcheck disable=SC2046
R[ssh.peak]=$(($(status_kb VmHWM $(ssh_pids)) / 1024))
R[exit.peak]=$(($(status_kb VmHWM "$EXIT_PID") / 1024))
R[exit.cpu]=$(awk -v t="$(cpu_ticks "$EXIT_PID")" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')
R[entry.cpu]=$(awk -v t="$(cpu_ticks "$ENTRY_PID")" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')
# shellcheck disable=SC2046
R[ssh.cpu]=$(awk -v t="$(cpu_ticks $(ssh_pids))" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')
R[entry.peak]=$(($(status_kb VmHWM "$ENTRY_PID") / 1024))

# --- report --------------------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && a != "-" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
row() { printf '%-44s %12s %12s %12s %12s %12s\n' "$@"; }

echo
echo "Splitstream tunnel benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(java -version 2>&1 | head -n1)"
echo "node JVM flags: $JAVA_NODE_OPTS; ws:// on loopback (no TLS) vs ssh (encrypted); ${SECONDS_PER_RUN}s per throughput run"
echo
row "metric" "direct" "splitstream" "ssh -L" "split/direct" "split/ssh"
row "upload, 1 connection (MiB/s)" "${R[direct.tp1]}" "${R[splitstream.tp1]}" "${R[ssh.tp1]}" \
  "$(ratio "${R[splitstream.tp1]}" "${R[direct.tp1]}")" "$(ratio "${R[splitstream.tp1]}" "${R[ssh.tp1]}")"
row "upload, 8 connections (MiB/s)" "${R[direct.tp8]}" "${R[splitstream.tp8]}" "${R[ssh.tp8]}" \
  "$(ratio "${R[splitstream.tp8]}" "${R[direct.tp8]}")" "$(ratio "${R[splitstream.tp8]}" "${R[ssh.tp8]}")"
row "1-byte ping-pong RTT p50 (us)" "${R[direct.p50]}" "${R[splitstream.p50]}" "${R[ssh.p50]}" \
  "$(ratio "${R[splitstream.p50]}" "${R[direct.p50]}")" "$(ratio "${R[splitstream.p50]}" "${R[ssh.p50]}")"
row "1-byte ping-pong RTT p99 (us)" "${R[direct.p99]}" "${R[splitstream.p99]}" "${R[ssh.p99]}" \
  "$(ratio "${R[splitstream.p99]}" "${R[direct.p99]}")" "$(ratio "${R[splitstream.p99]}" "${R[ssh.p99]}")"
row "CPU of middle, 1 conn (CPU-s per GiB)" "-" "${R[splitstream.cpu1]}" "${R[ssh.cpu1]}" "-" \
  "$(ratio "${R[splitstream.cpu1]}" "${R[ssh.cpu1]}")"
row "CPU of middle, 8 conns (CPU-s per GiB)" "-" "${R[splitstream.cpu8]}" "${R[ssh.cpu8]}" "-" \
  "$(ratio "${R[splitstream.cpu8]}" "${R[ssh.cpu8]}")"
row "peak RSS of middle (MiB, VmHWM)" "-" "${R[splitstream.peak]}" "${R[ssh.peak]}" "-" \
  "$(ratio "${R[splitstream.peak]}" "${R[ssh.peak]}")"
row "RSS before idle run (MiB)" "-" "${R[splitstream.idle_before]}" "${R[ssh.idle_before]}" "-" \
  "$(ratio "${R[splitstream.idle_before]}" "${R[ssh.idle_before]}")"
row "RSS with $IDLE idle connections (MiB)" "-" "${R[splitstream.idle_during]}" "${R[ssh.idle_during]}" "-" \
  "$(ratio "${R[splitstream.idle_during]}" "${R[ssh.idle_during]}")"
row "+${DELAY}ms each way: upload, 1 conn (MiB/s)" "${R[direct.wan_tp]}" "${R[splitstream.wan_tp]}" "${R[ssh.wan_tp]}" \
  "$(ratio "${R[splitstream.wan_tp]}" "${R[direct.wan_tp]}")" "$(ratio "${R[splitstream.wan_tp]}" "${R[ssh.wan_tp]}")"
row "+${DELAY}ms each way: ping-pong p50 (ms)" "${R[direct.wan_p50]}" "${R[splitstream.wan_p50]}" "${R[ssh.wan_p50]}" \
  "$(ratio "${R[splitstream.wan_p50]}" "${R[direct.wan_p50]}")" "$(ratio "${R[splitstream.wan_p50]}" "${R[ssh.wan_p50]}")"
row "time to open $IDLE connections (ms)" "-" "${R[splitstream.idle_open_ms]}" "${R[ssh.idle_open_ms]}" "-" \
  "$(ratio "${R[splitstream.idle_open_ms]}" "${R[ssh.idle_open_ms]}")"
echo
echo "middle = exit + entry JVMs vs ssh client + sshd processes"
echo "per node: exit peak RSS ${R[exit.peak]} MiB, CPU ${R[exit.cpu]} s; entry peak RSS ${R[entry.peak]} MiB, CPU ${R[entry.cpu]} s" \
  "(whole run, incl. start-up); ssh + sshd CPU ${R[ssh.cpu]} s"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) (numbers on a shared machine are noisy)"
if [ -n "${R[x.pub1]:-}" ]; then
  echo
  echo "expose: a public port (exit -> agent -> target) vs the forward path (entry -> exit -> target), same machine:"
  xrow() { printf '%-34s %14s %14s %10s\n' "$@"; }
  xrow "metric" "public port" "forward" "pub/fwd"
  xrow "upload, 1 connection (MiB/s)" "${R[x.pub1]}" "${R[x.fwd1]}" "$(ratio "${R[x.pub1]}" "${R[x.fwd1]}")"
  xrow "upload, 8 connections (MiB/s)" "${R[x.pub8]}" "${R[x.fwd8]}" "$(ratio "${R[x.pub8]}" "${R[x.fwd8]}")"
  xrow "1-byte ping-pong RTT p50 (us)" "${R[x.pub_p50]}" "${R[x.fwd_p50]}" "$(ratio "${R[x.pub_p50]}" "${R[x.fwd_p50]}")"
  echo "target: public-port throughput within 10% of the forward path"
fi
if [ ${#TRANSPORT_LIST[@]} -gt 0 ]; then
  echo
  echo "transports (each its own entry against the same exit; direct TCP measured right before each; ws vs websocket row):"
  trow() { printf '%-16s %-26s %10s %10s %10s %10s %10s %12s %10s\n' "$@"; }
  trow "transport" "entry logged" "1c MiB/s" "1c/direct" "8c MiB/s" "8c/direct" "8c/ws" "p50 RTT us" "entry RSS"
  for kind in "${TRANSPORT_LIST[@]}"; do
    trow "$kind" "${R[t.$kind.state]:-}" "${R[t.$kind.tp1]:--}" "$(ratio "${R[t.$kind.tp1]:-}" "${R[t.$kind.direct1]:-}")" \
      "${R[t.$kind.tp8]:--}" "$(ratio "${R[t.$kind.tp8]:-}" "${R[t.$kind.direct8]:-}")" \
      "$(ratio "${R[t.$kind.tp8]:-}" "${R[t.websocket.tp8]:-}")" "${R[t.$kind.p50]:--}" "${R[t.$kind.peak]:--}"
  done
  echo "targets: http >= 0.15x direct with 8 connections; websocket-split within 10% of websocket"
fi

