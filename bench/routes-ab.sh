#!/usr/bin/env bash
# Interleaved A/B of HTTP routes (bench/routes.sh's measurement) for several node builds in one run: one nginx serving
# a 1 KiB file, an exit + agent pair per build (each with its own scripts/jvm-opts.sh), all warmed alike; then ROUNDS
# rounds of wrk (16 keep-alive connections) against direct, a local nginx proxy_pass and each build's route (X-Token),
# in turn. Per build it prints req/s, CPU µs per request of each node (all threads, and event-loop threads only, from
# /proc), p50, and read+write system calls per request (/proc/<pid>/io), with medians at the end. The machine's load
# moves req/s a lot; the CPU and system-call figures much less. Run it twice with the builds swapped (order effects).
# Not a test. Run under the bench lock: flock /tmp/splitstream-bench.lock bench/routes-ab.sh OLD NEW
#   bench/routes-ab.sh DIR_A [DIR_B ...]     env ROUNDS=3 SECS=5 WARM=15 CONNS=16 JFR=dir (JFC=settings file)
set -uo pipefail
ROUNDS=${ROUNDS:-3}; SECS=${SECS:-5}; CONNS=${CONNS:-16}
W=$(mktemp -d "${TMPDIR:-/tmp}/splitstream-routes-ab.XXXXXX"); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; for i in $(seq 1 100); do a=0; for p in "${PIDS[@]}"; do kill -0 $p 2>/dev/null && a=1; done; [ $a = 0 ] && break; sleep 0.2; done; for p in "${PIDS[@]}"; do kill -9 $p 2>/dev/null; done; }
trap cleanup EXIT
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BACKEND=$(fp); PROXY=$(fp)
mkdir -p $W/www $W/nginx; head -c 1024 /dev/urandom > $W/www/1k.bin; chmod -R a+rX $W
cat > $W/nginx/nginx.conf <<CONF
worker_processes 1;
pid $W/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $W/nginx/body;
  proxy_temp_path $W/nginx/proxy;
  upstream backend { server 127.0.0.1:$BACKEND; keepalive 32; }
  server { listen 127.0.0.1:$BACKEND; root $W/www; }
  server { listen 127.0.0.1:$PROXY; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
$(command -v nginx || echo /usr/sbin/nginx) -p $W/nginx -e $W/nginx/error.log -c $W/nginx/nginx.conf -g 'daemon off;' & PIDS+=($!)
TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
n=0; NAMES=()
for d in "$@"; do
  n=$((n+1)); name=b$n; NAMES+=($name)
  ( . $d/scripts/jvm-opts.sh; echo "$SPLITSTREAM_JAVA_OPTS" > $W/$name.opts )
  o=$(cat $W/$name.opts); eh=$(fp); ROUTE=route-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  jx=""; ja=""; if [ -n "${JFR:-}" ]; then mkdir -p $JFR; jx="-XX:StartFlightRecording=settings=${JFC:-profile},dumponexit=true,filename=$JFR/$name-exit.jfr"; ja="-XX:StartFlightRecording=settings=${JFC:-profile},dumponexit=true,filename=$JFR/$name-agent.jfr"; fi
  MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 SPLITSTREAM_TOKEN=$TOKEN java $o $jx -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port=$eh -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$(fp) \
    -jar $d/exit-node/target/quarkus-app/quarkus-run.jar > $W/$name-exit.log 2>&1 & PIDS+=($!); eval "${name}_EXIT=$!"
  for i in $(seq 1 240); do (exec 3<>/dev/tcp/127.0.0.1/$eh) 2>/dev/null && break; sleep 0.5; done
  MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 SPLITSTREAM_TOKEN=$TOKEN SPLITSTREAM_ENTRY_ROUTE_TOKEN=$ROUTE java $o $ja -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$(fp) \
    -Dsplitstream.entry.server=ws://127.0.0.1:$eh -Dsplitstream.entry.transport=websocket -Dsplitstream.entry.state-file=$W/$name.json \
    -Dsplitstream.entry.expose=web=http://127.0.0.1:$BACKEND -jar $d/entry-node/target/quarkus-app/quarkus-run.jar > $W/$name-agent.log 2>&1 & PIDS+=($!); eval "${name}_AGENT=$!"
  for i in $(seq 1 240); do grep -qs 'exposing web' $W/$name-agent.log && break; sleep 0.5; done
  eval "${name}_URL=http://127.0.0.1:$eh/1k.bin ${name}_ROUTE=$ROUTE"
  echo "$name = $d ($(git -C $d log -1 --format=%h 2>/dev/null))"
done
# CPU ticks of a process's event-loop threads only (JIT and GC threads left out: they dominate a loaded machine)
sysc() { awk '/^syscw/{w=$2} /^syscr/{r=$2} END{print w+r}' /proc/$1/io; }
lticks() { local t=0; for f in /proc/$1/task/*/stat; do case "$(cat $f 2>/dev/null)" in *"(vert.x-eventloo"*) v=$(sed 's/^.*) //' $f | awk '{print $12+$13}'); t=$((t+v));; esac; done; echo $t; }
ticks() { local t=0; for p in "$@"; do v=$(sed 's/^.*) //' /proc/$p/stat | awk '{print $12+$13}'); t=$((t+v)); done; echo $t; }
for name in "${NAMES[@]}"; do eval "u=\$${name}_URL r=\$${name}_ROUTE"; curl -fsS -o /dev/null -H "X-Token: $r" $u || echo "$name route fails"; wrk -t2 -c$CONNS -d${WARM:-15}s -H "X-Token: $r" $u > /dev/null; done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A RES RESL RESS
for round in $(seq 1 $ROUNDS); do
  for what in direct nginx "${NAMES[@]}"; do
    case $what in
      direct) out=$(wrk -t2 -c$CONNS -d${SECS}s http://127.0.0.1:$BACKEND/1k.bin); cpu=0 ;;
      nginx) out=$(wrk -t2 -c$CONNS -d${SECS}s http://127.0.0.1:$PROXY/1k.bin); cpu=0 ;;
      *) eval "u=\$${what}_URL r=\$${what}_ROUTE pe=\$${what}_EXIT pa=\$${what}_AGENT"
         t0e=$(ticks $pe); t0a=$(ticks $pa); l0e=$(lticks $pe); l0a=$(lticks $pa); s0e=$(sysc $pe); s0a=$(sysc $pa)
         out=$(wrk -t2 -c$CONNS -d${SECS}s --latency -H "X-Token: $r" $u)
         t1e=$(ticks $pe); t1a=$(ticks $pa); l1e=$(lticks $pe); l1a=$(lticks $pa); s1e=$(sysc $pe); s1a=$(sysc $pa) ;;
    esac
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out"); reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    errs=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
    extra=""
    if [ "$what" != direct ] && [ "$what" != nginx ]; then
      extra=$(awk -v e=$((t1e-t0e)) -v a=$((t1a-t0a)) -v le=$((l1e-l0e)) -v la=$((l1a-l0a)) -v n=$reqs 'BEGIN{printf "cpu us/req exit %.0f (loops %.0f) agent %.0f (loops %.0f)", e*10000/n, le*10000/n, a*10000/n, la*10000/n}')
      RESL[$what]="${RESL[$what]:-} $(awk -v le=$((l1e-l0e)) -v la=$((l1a-l0a)) -v n=$reqs 'BEGIN{printf "%.0f", (le+la)*10000/n}')"
      p50=$(awk '$1 == "50%" {print $2}' <<<"$out"); extra="$extra p50 $p50 $(awk -v e=$((s1e-s0e)) -v a=$((s1a-s0a)) -v n=$reqs 'BEGIN{printf "syscalls/req exit %.2f agent %.2f", e/n, a/n}')"
      RESS[$what]="${RESS[$what]:-} $(awk -v e=$((s1e-s0e)) -v n=$reqs 'BEGIN{printf "%.2f", e/n}')"
    fi
    printf 'round %d %-7s %10s req/s %s %s\n' $round $what $rps "$extra" "$errs"
    RES[$what]="${RES[$what]:-} $rps"
  done
done
echo "medians (load $(cut -d' ' -f1-3 /proc/loadavg)):"
for what in direct nginx "${NAMES[@]}"; do m=$(tr ' ' '\n' <<<"${RES[$what]}" | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'); echo "  $what $m"; done
for name in "${NAMES[@]}"; do m=$(tr ' ' '\n' <<<"${RESL[$name]}" | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'); echo "  $name event-loop cpu us/req (both nodes) median $m"; done
for name in "${NAMES[@]}"; do m=$(tr ' ' '\n' <<<"${RESS[$name]}" | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'); echo "  $name exit syscalls/req median $m"; done
for name in "${NAMES[@]}"; do echo "$name agent request lines: $(grep -c 'GET /1k.bin 200' $W/$name-agent.log)"; done
