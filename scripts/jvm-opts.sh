# Default JVM flags for a node (sourced by ./splitstream and bench/tunnel.sh; JAVA_OPTS replaces them).
# Small footprint: each node stays under 256 MiB RSS through bulk transfers and 1,000 idle connections. SerialGC: two
# cores and a small heap need no concurrent collector threads or regions; Netty's arenas default to 2 per core.
# ExitOnOutOfMemoryError: a node whose heap ran out exits (a supervisor restarts it) instead of limping in full GC.
# A fixed 48 MiB young generation (and 96 MiB to start with): payloads live for one ACK round trip, so with the 10 MiB
# young generation -Xms32m gave, they were promoted and the entry ran 86-127 young and 15 full collections in a bench
# run; with these 35 young and 4 full, and peak RSS 215 (entry) / 184 MiB (exit). MetaspaceSize: no full collection at
# start-up for class metadata (it cost 250-530 ms there).
# shellcheck disable=SC2034
SPLITSTREAM_JAVA_OPTS="-Xms96m -Xmx192m -Xmn48m -XX:MetaspaceSize=64m -XX:+ExitOnOutOfMemoryError -XX:+UseSerialGC -XX:MaxDirectMemorySize=64m -Xss512k -XX:ReservedCodeCacheSize=48m -XX:MaxMetaspaceSize=128m -Dio.netty.allocator.numDirectArenas=2 -Dio.netty.allocator.numHeapArenas=2"
