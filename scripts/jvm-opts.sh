# Default JVM flags for a node (sourced by ./splitstream and bench/tunnel.sh; JAVA_OPTS replaces them).
# Small footprint: each node stays under 256 MiB RSS through bulk transfers and floods (bench/soak.sh). The buffer
# budget these flags give (12 MiB) caps open streams at 1,152 per node, 768 of them moving (idle ones lend their share;
# docs/OPERATIONS.md), and bytes held below 3.5 x 12 = 42 MiB, within the 48 MiB of direct memory. SerialGC: two cores and a
# small heap need no concurrent collector threads or regions; Netty's arenas default to 2 per core.
# ExitOnOutOfMemoryError: a node whose heap ran out exits (a supervisor restarts it) instead of limping in full GC.
# A fixed 40 MiB young generation (half the heap): payloads live for one ACK round trip, so with the 10 MiB young
# generation -Xms32m gave, they were promoted and the entry ran 86-127 young and 15 full collections in a bench run;
# with 48 MiB (of 96) 35 young and 4 full, and peak RSS 215 (entry) / 184 MiB (exit). MetaspaceSize: no full collection
# at start-up for class metadata (it cost 250-530 ms there).
# Memory (bench/soak.sh with -XX:NativeMemoryTracking=summary): besides the heap, a node holds ~42-48 MiB of
# metaspace, 16 of code, 12 of CDS archive, 11 of symbols, ~23 of shared libraries, and direct memory: every byte
# queued to a socket is a pooled direct copy, so a flood into targets that never read fills it up to twice the buffer
# budget (the budget defaults to a quarter of the heap or of MaxDirectMemorySize, whichever is smaller: 12 MiB here).
# With -Xmx192m and a 32 MiB budget the exit reached 351 MiB and its direct memory the 64 MiB cap, where each write
# blocked an event loop in Bits.reserveMemory (2.4 s) and the tunnel stopped. Netty's per-thread caches kept ~29 MiB of
# direct memory when the node held 1.4 MiB: trimmed every 2 s (cacheTrimIntervalMillis). glibc kept freed native
# memory: at most 2 arenas, the JVM trims every 10 s where it can (TrimNativeHeapInterval: JDK 17.0.9 and later;
# probed, as older JVMs refuse it), and a fixed mmap threshold (MALLOC_MMAP_THRESHOLD_=128K; glibc otherwise raises it
# up to 32 MiB after the first free) gives Netty's 4 MiB pool chunks and other large blocks back to the kernel when
# freed instead of leaving them in an arena. Five-minute soaks (floods every 60 s), exit RSS mean / peak: -Xmx112m and
# 48 MiB direct memory 231 / 284 MiB (direct memory up to 32 MiB, 28-54 MiB outside what NMT counts); a heap fixed at
# 96 MiB and 32 MiB direct 221 / 254 (direct up to 23); plus the mmap threshold 209 / 235 (15-23 MiB outside NMT).
# Direct memory stays 48 MiB: at 32 MiB the 8 MiB budget throttled the streams' windows (bench/ab.sh: bulk throughput
# 0.73x with one connection, 0.29x with eight, at equal CPU, system calls and collections per GB); these flags against
# the former ones: 1.60x and 1.19x, CPU per GB 0.85-0.93x (bench/ab.sh at load 24-34: throughput figures are rough).
# An hour's soak with a fixed 96 MiB heap (-Xmn48m): exit 10-minute means 227-238, peaks 250-275 MiB (6 of 348
# samples over 256 MiB), entry means 191-193, peaks up to 222: a flood's direct memory (the budget's bound then let up
# to 3x the budget be held) on top of a heap all resident by then. An hour with -Xmx112m: exit mean 224-248, peaks
# 254-277. Hence 80 MiB (-Xmn40m; measured together with a 2x bound on the budget that was taken back: it starved
# interactive streams during a flood, BufferBudgetE2E): bench/ab.sh 80 vs 96 MiB, both orders, at
# load 10-19: CPU s/GB 0.90-1.04x, system calls/GB 0.92-1.06x, young collections/GB 1.15-1.22x (a smaller eden), MiB/s
# 0.38-1.55x (noise at that load; medians of 3), RSS peaks 4-16 MiB lower. Six-minute soaks side by side (same
# load): with 96 MiB and the former bound exit mean 224 / peak 260 MiB, entry peak 203, bytes held up to 11.3 / 14.1
# MiB; with 80 MiB and the 2x bound exit 202 / 239, entry 189, held up to 4.6 / 8.7 MiB. -Xms equal to -Xmx: a flood
# cannot grow the heap past what it starts with (-Xmx112m let the old generation take 16 MiB more; a full collection
# leaves ~14 MiB live in it).
# shellcheck disable=SC2034
SPLITSTREAM_JAVA_OPTS="-Xms80m -Xmx80m -Xmn40m -XX:MetaspaceSize=64m -XX:+ExitOnOutOfMemoryError -XX:+UseSerialGC -XX:MaxDirectMemorySize=48m -Xss512k -XX:ReservedCodeCacheSize=48m -XX:MaxMetaspaceSize=128m -Dio.netty.allocator.numDirectArenas=2 -Dio.netty.allocator.numHeapArenas=2 -Dio.netty.allocator.cacheTrimIntervalMillis=2000"
if java -XX:TrimNativeHeapInterval=10000 -version >/dev/null 2>&1; then
  SPLITSTREAM_JAVA_OPTS="$SPLITSTREAM_JAVA_OPTS -XX:TrimNativeHeapInterval=10000"
fi
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-131072}
