#!/usr/bin/env bash
# A/B of two node builds in one run: one target server, both node pairs started side by side and warmed the same,
# each measurement taken for direct TCP, A and B in turn (medians of ROUNDS). Besides MiB/s and CPU-s per GB it prints
# two figures the machine's load hardly moves: read/write system calls per GB (/proc/<pid>/io) and young collections
# per GB (jstat), both nodes together. Each build runs with its own scripts/jvm-opts.sh (EXTRA_A/EXTRA_B add flags).
# Not a test. The order inside a pair favours neither build on purpose only if you also run it swapped: under heavy
# load the second-measured path has been seen faster (swap A and B to check).
#   bench/ab.sh /tmp/old-checkout .     (env: ROUNDS=3 WARM=20 SECS=3 PINGS=3000 EXTRA_A= EXTRA_B= ONLY="r1 r8 t1 rtt"
#                                        TRANSPORT=websocket, or http for the plain-HTTP transport;
#                                        JAVA_A= JAVA_B= the java binary each build's nodes run on, default java)
# r1/r8: 1 and 8 connections of incompressible bulk upload; t1/t8: compressible; d1/dt1: 1 connection of bulk
# download (target to client: the exit sends), incompressible and compressible; rtt: 1-byte ping-pong p50/p99 (us);
# pb: the same ping-pong for SECS while 8 bulk connections upload through the same path (p50/p99 and the pings done:
# a bulk stream that gets the session's turns ahead of an interactive one shows here);
# pg4: pgbench -S -c 4 -j 2 for SECS through a throwaway PostgreSQL (only when asked: ONLY="pg4"), with tps and CPU
# microseconds per query of each node (exit and entry apart; "of it kernel": the system time in it) and their
# read/write system calls per query.
set -uo pipefail
A=$1; B=$2
TRANSPORT=${TRANSPORT:-websocket}; case $TRANSPORT in websocket) SCHEME=ws;; http) SCHEME=http;; *) echo "TRANSPORT is websocket or http" >&2; exit 2;; esac
ROUNDS=${ROUNDS:-3}; WARM=${WARM:-20}; SECS=${SECS:-3}; PINGS=${PINGS:-3000}; ONLY=${ONLY:-"r1 r8 t1 rtt"}
W=$(mktemp -d "${TMPDIR:-/tmp}/splitstream-ab.XXXXXX"); PIDS=()
PG_STARTED=0; AS_PG=(); PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
cleanup() { [ $PG_STARTED = 1 ] && "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D $W/pg/data -m immediate -w stop >/dev/null 2>&1
  for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; sleep 0.5; for p in "${PIDS[@]}"; do kill -9 $p 2>/dev/null; done; }
trap cleanup EXIT
javac -d $W/classes "$(dirname "$0")/TunnelBench.java"
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkfifo $W/t.in; java -Xmx64m -XX:+UseSerialGC -cp $W/classes TunnelBench server <$W/t.in >$W/t.port 2>&1 & PIDS+=($!); exec 7>$W/t.in
sleep 2; TARGET=$(head -1 $W/t.port)
PG_PORT=0
if [[ " $ONLY " == *" pg4 "* ]]; then # a throwaway PostgreSQL, as bench/tunnel.sh starts it
  PG_PORT=$(fp); chmod 755 $W; mkdir -p $W/pg; if [ "$(id -u)" = 0 ]; then chown postgres:postgres $W/pg; AS_PG=(runuser -u postgres --); fi
  "${AS_PG[@]}" "$PG_BIN/initdb" -D $W/pg/data -U postgres -A trust -E UTF8 --no-sync >$W/pg-init.log 2>&1 || { cat $W/pg-init.log >&2; exit 1; }
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D $W/pg/data -l $W/pg/log -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $W/pg -c fsync=off -c synchronous_commit=off -c max_connections=50" start >/dev/null || exit 1
  PG_STARTED=1
  pgbench -h 127.0.0.1 -p $PG_PORT -U postgres -i -s 1 -q postgres >$W/pgbench-init.log 2>&1 || { cat $W/pgbench-init.log >&2; exit 1; }
fi
TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
start() { # name dir extra
  local n=$1 d=$2 x=$3 eh=$(fp) fw=$(fp) pf=$(fp) allow=127.0.0.1:$TARGET forwards
  forwards=127.0.0.1:$fw=127.0.0.1:$TARGET
  if [ $PG_PORT != 0 ]; then allow=$allow,127.0.0.1:$PG_PORT; forwards=$forwards,127.0.0.1:$pf=127.0.0.1:$PG_PORT; fi
  # the build's flags and the malloc settings its jvm-opts.sh exports (MALLOC_*), for its nodes only
  ( unset ${!MALLOC_*}; . $d/scripts/jvm-opts.sh; echo "$SPLITSTREAM_JAVA_OPTS" > $W/$n.opts; env | grep '^MALLOC_' > $W/$n.env || true )
  local o=$(cat $W/$n.opts) e=$(cat $W/$n.env)
  local j; eval "j=\${JAVA_$n:-java}"
  env $e SPLITSTREAM_TOKEN=$TOKEN $j $o $x -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port=$eh -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$(fp) \
    -Dsplitstream.exit.allow=$allow -jar $d/exit-node/target/quarkus-app/quarkus-run.jar >$W/$n-exit.log 2>&1 &
  PIDS+=($!); eval "${n}_EXIT=$!"
  sleep 1
  for i in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/$eh) 2>/dev/null && break; sleep 0.5; done
  env $e SPLITSTREAM_TOKEN=$TOKEN $j $o $x -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$(fp) -Dsplitstream.entry.state-file=$W/$n.json \
    -Dsplitstream.entry.forwards=$forwards -Dsplitstream.entry.server=$SCHEME://127.0.0.1:$eh -Dsplitstream.entry.transport=$TRANSPORT \
    -jar $d/entry-node/target/quarkus-app/quarkus-run.jar >$W/$n-entry.log 2>&1 &
  PIDS+=($!); eval "${n}_ENTRY=$!"; eval "${n}_FWD=$fw"; eval "${n}_PGF=$pf"
  for i in $(seq 1 120); do grep -qs 'session established' $W/$n-entry.log && (exec 3<>/dev/tcp/127.0.0.1/$fw) 2>/dev/null && break; sleep 0.5; done
}
start A $A "${EXTRA_A:-}"; start B $B "${EXTRA_B:-}"
echo "A=$A ($(git -C $A log -1 --format=%h 2>/dev/null)) B=$B ($(git -C $B log -1 --format=%h 2>/dev/null)) transport $TRANSPORT, load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in A B; do e=${n}_EXIT; echo "$n runs on $("$(readlink /proc/${!e}/exe)" -version 2>&1 | head -1)"; done
T() { timeout 120 java -Xmx512m -XX:+UseSerialGC -cp $W/classes TunnelBench "$@"; }
ticks() { local t=0; for p in "$@"; do v=$(sed 's/^.*) //' /proc/$p/stat | awk '{print $12+$13}'); t=$((t+v)); done; echo $t; }
kticks() { local t=0; for p in "$@"; do v=$(sed 's/^.*) //' /proc/$p/stat | awk '{print $13}'); t=$((t+v)); done; echo $t; } # kernel only
HZ=$(getconf CLK_TCK)
sysw() { local t=0; for p in "$@"; do v=$(awk '/^syscw/{w=$2} /^syscr/{r=$2} END{print w+r}' /proc/$p/io); t=$((t+v)); done; echo $t; }
ygc() { local t=0; for p in "$@"; do v=$("$(dirname "$(readlink /proc/$p/exe)")/jstat" -gc $p 2>/dev/null | awk 'NR==1{for(i=1;i<=NF;i++) if($i=="YGC") c=i} NR==2{print $c}'); t=$((t+${v%.*})); done; echo $t; }
echo "warming $WARM s each"; for i in 1 2; do T throughput $A_FWD 2 $((WARM/2)) >/dev/null; T throughput $B_FWD 2 $((WARM/2)) >/dev/null; T throughput $A_FWD 2 1 text >/dev/null; T throughput $B_FWD 2 1 text >/dev/null; T rtt $A_FWD 2000 >/dev/null; T rtt $B_FWD 2000 >/dev/null
  # downloads run the other half of each node's code (the exit seals, the entry opens): cold, d1 read 0.4x its warm rate
  if [[ " $ONLY " == *" d1 "* || " $ONLY " == *" dt1 "* ]]; then for n in A B; do v=${n}_FWD; T throughput ${!v} 2 $((WARM/2)) random down >/dev/null; T throughput ${!v} 2 1 text down >/dev/null; done; fi
done
declare -A R; add() { R[$1]="${R[$1]:-} $2"; }
med() { echo ${R[$1]:-} | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n",(v[NR/2]+v[NR/2+1])/2}'; }
f() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | head -1; }
for r in $(seq 1 $ROUNDS); do
  for m in $ONLY; do
    case $m in r1) args="1 $SECS";; r8) args="8 $SECS";; t1) args="1 $SECS text";; t8) args="8 $SECS text";;
      d1) args="1 $SECS random down";; dt1) args="1 $SECS text down";; esac
    for p in D A B; do
      case $p in D) port=$TARGET; pids="";; A) port=$A_FWD; pids="$A_EXIT $A_ENTRY";; B) port=$B_FWD; pids="$B_EXIT $B_ENTRY";; esac
      if [ $m = rtt ]; then o=$(T rtt $port $PINGS); add $p.p50 $(f p50_us <<<"$o"); add $p.p99 $(f p99_us <<<"$o"); continue; fi
      if [ $m = pb ]; then
        T throughput $port 8 $((SECS+2)) >/dev/null & bulk=$!
        sleep 1; o=$(T rtt $port 1000000 $SECS); wait $bulk
        add $p.pb.p50 $(f p50_us <<<"$o"); add $p.pb.p99 $(f p99_us <<<"$o"); add $p.pb.pings $(f pings <<<"$o"); continue
      fi
      if [ $m = pg4 ]; then
        case $p in D) port=$PG_PORT; ex=""; en="";; A) port=$A_PGF; ex=$A_EXIT; en=$A_ENTRY;; B) port=$B_PGF; ex=$B_EXIT; en=$B_ENTRY;; esac
        sw0=$(sysw $ex $en); x0=$(ticks $ex); e0=$(ticks $en); xk0=$(kticks $ex); ek0=$(kticks $en)
        o=$(timeout 120 pgbench -h 127.0.0.1 -p $port -U postgres -S -n -c 4 -j 2 -T $SECS postgres 2>&1)
        x1=$(ticks $ex); e1=$(ticks $en); sw1=$(sysw $ex $en); xk1=$(kticks $ex); ek1=$(kticks $en)
        q=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$o" | head -1); q=${q:-0}
        add $p.pg4 $(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$o" | head -1)
        if [ -n "$ex" ] && [ "$q" -gt 0 ]; then
          add $p.pg4.exit $(awk -v t=$((x1-x0)) -v hz=$HZ -v q=$q 'BEGIN{printf "%.1f", t/hz/q*1e6}')
          add $p.pg4.entry $(awk -v t=$((e1-e0)) -v hz=$HZ -v q=$q 'BEGIN{printf "%.1f", t/hz/q*1e6}')
          add $p.pg4.exit.kernel $(awk -v t=$((xk1-xk0)) -v hz=$HZ -v q=$q 'BEGIN{printf "%.1f", t/hz/q*1e6}')
          add $p.pg4.entry.kernel $(awk -v t=$((ek1-ek0)) -v hz=$HZ -v q=$q 'BEGIN{printf "%.1f", t/hz/q*1e6}')
          add $p.pg4.sysw $(awk -v d=$((sw1-sw0)) -v q=$q 'BEGIN{printf "%.2f", d/q}')
        fi
        continue
      fi
      sw0=$(sysw $pids); yg0=$(ygc $pids); b=$(ticks $pids); o=$(T throughput $port $args); a=$(ticks $pids); sw1=$(sysw $pids); yg1=$(ygc $pids)
      add $p.$m $(f mib_per_s <<<"$o"); by=$(f bytes <<<"$o")
      [ -n "$pids" ] && add $p.$m.sysw $(awk -v d=$((sw1-sw0)) -v b=$by 'BEGIN{printf "%.0f", d/(b/1e9)}')
      [ -n "$pids" ] && add $p.$m.ygc $(awk -v d=$((yg1-yg0)) -v b=$by 'BEGIN{printf "%.1f", d/(b/1e9)}')
      [ -n "$pids" ] && add $p.$m.cpu $(awk -v t=$((a-b)) -v hz=$HZ -v b=$by 'BEGIN{printf "%.2f",(t/hz)/(b/1e9)}')
    done
  done
  echo "round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)"
done
printf '%-22s %9s %9s %9s %7s %7s %7s\n' metric direct A B A/D B/D B/A
rt() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0>0 && a!="-") printf "%.2f", a/b; else print "-"}'; }
for m in $ONLY; do
  if [ $m = pg4 ]; then
    printf '%-22s %9s %9s %9s %7s %7s %7s\n' "pg4 tps" $(med D.pg4) $(med A.pg4) $(med B.pg4) $(rt $(med A.pg4) $(med D.pg4)) $(rt $(med B.pg4) $(med D.pg4)) $(rt $(med B.pg4) $(med A.pg4))
    for k in exit entry; do printf '%-22s %9s %9s %9s %7s %7s %7s\n' "pg4 $k cpu us/query" - $(med A.pg4.$k) $(med B.pg4.$k) - - $(rt $(med B.pg4.$k) $(med A.pg4.$k))
      printf '%-22s %9s %9s %9s %7s %7s %7s\n' "  of it kernel" - $(med A.pg4.$k.kernel) $(med B.pg4.$k.kernel) - - $(rt $(med B.pg4.$k.kernel) $(med A.pg4.$k.kernel)); done
    printf '%-22s %9s %9s %9s %7s %7s %7s\n' "pg4 syscalls/query" - $(med A.pg4.sysw) $(med B.pg4.sysw) - - $(rt $(med B.pg4.sysw) $(med A.pg4.sysw))
    continue
  fi
  if [ $m = pb ]; then for k in p50 p99 pings; do printf '%-22s %9s %9s %9s %7s %7s %7s\n' "pb $k" $(med D.pb.$k) $(med A.pb.$k) $(med B.pb.$k) $(rt $(med A.pb.$k) $(med D.pb.$k)) $(rt $(med B.pb.$k) $(med D.pb.$k)) $(rt $(med B.pb.$k) $(med A.pb.$k)); done; continue; fi
  if [ $m = rtt ]; then for k in p50 p99; do printf '%-22s %9s %9s %9s %7s %7s %7s\n' $k $(med D.$k) $(med A.$k) $(med B.$k) $(rt $(med A.$k) $(med D.$k)) $(rt $(med B.$k) $(med D.$k)) $(rt $(med B.$k) $(med A.$k)); done; continue; fi
  printf '%-22s %9s %9s %9s %7s %7s %7s\n' "$m MiB/s" $(med D.$m) $(med A.$m) $(med B.$m) $(rt $(med A.$m) $(med D.$m)) $(rt $(med B.$m) $(med D.$m)) $(rt $(med B.$m) $(med A.$m))
  printf '%-22s %9s %9s %9s %7s %7s %7s\n' "$m cpu s/GB" - $(med A.$m.cpu) $(med B.$m.cpu) - - $(rt $(med B.$m.cpu) $(med A.$m.cpu))
  printf '%-22s %9s %9s %9s %7s %7s %7s\n' "$m syscalls/GB" - $(med A.$m.sysw) $(med B.$m.sysw) - - $(rt $(med B.$m.sysw) $(med A.$m.sysw))
  printf '%-22s %9s %9s %9s %7s %7s %7s\n' "$m young GCs/GB" - $(med A.$m.ygc) $(med B.$m.ygc) - - $(rt $(med B.$m.ygc) $(med A.$m.ygc))
done
for n in A B; do e=${n}_EXIT; en=${n}_ENTRY; echo "$n RSS peak exit $(awk '/VmHWM/{print int($2/1024)}' /proc/${!e}/status) entry $(awk '/VmHWM/{print int($2/1024)}' /proc/${!en}/status) MiB"; done
echo "logs in $W"
