package dev.splitstream.exit.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The JVM flags are part of the product (issue 10): the launcher ({@code scripts/jvm-opts.sh}, also used by
 * {@code bench/tunnel.sh}) and the JVM images ({@code deploy/docker/*-node/Dockerfile.jvm}) must run the nodes with the
 * same ones, so what the benchmark measured is what ships; only the heap's size differs (the image sizes it from the
 * container's memory limit).
 */
class ShippedJvmFlagsTest {
    private static final Path ROOT = Path.of("..");

    @Test
    void jvmImagesRunTheLaunchersFlags() throws IOException {
        List<String> launcher = flags(ROOT.resolve("scripts/jvm-opts.sh"), "SPLITSTREAM_JAVA_OPTS=\"([^\"]*)\"");
        assertThat(launcher).contains("-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError");
        for (String node : List.of("exit-node", "entry-node")) {
            Path dockerfile = ROOT.resolve("deploy/docker/" + node + "/Dockerfile.jvm");
            List<String> image = flags(dockerfile, "ENV JAVA_TOOL_OPTIONS=\"([^\"]*)\"");
            // The heap: fixed in the launcher, from the container's memory limit in the image.
            List<String> notHeap = launcher.stream()
                    .filter(f -> !f.startsWith("-Xms") && !f.startsWith("-Xmx") && !f.startsWith("-Xmn"))
                    .toList();
            assertThat(image).as(dockerfile.toString()).containsAll(notHeap);
            assertThat(image).as(dockerfile.toString()).anyMatch(f -> f.startsWith("-XX:MaxRAMPercentage="));
        }
    }

    @Test
    void systemdUnitsRunTheLaunchersFlags() throws IOException {
        List<String> launcher = flags(ROOT.resolve("scripts/jvm-opts.sh"), "SPLITSTREAM_JAVA_OPTS=\"([^\"]*)\"");
        for (String node : List.of("exit", "entry")) {
            Path unit = ROOT.resolve("deploy/systemd/splitstream-" + node + ".service");
            List<String> flags = flags(unit, "ExecStart=/usr/bin/java ([^\n]*) -jar ");
            assertThat(flags).as(unit.toString()).containsAll(launcher);
        }
    }

    /** The glibc settings the launcher exports (MALLOC_*) are set by the images and the systemd units too. */
    @Test
    void imagesAndUnitsSetTheLaunchersMallocSettings() throws IOException {
        Matcher m = Pattern.compile("export (MALLOC_[A-Z_]+)=\\$\\{MALLOC_[A-Z_]+:-([^}]+)}")
                .matcher(Files.readString(ROOT.resolve("scripts/jvm-opts.sh")));
        List<String> settings = new java.util.ArrayList<>();
        while (m.find()) {
            settings.add(m.group(1) + "=" + m.group(2));
        }
        assertThat(settings).contains("MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=131072");
        for (String setting : settings) {
            for (String node : List.of("exit-node", "entry-node")) {
                Path dockerfile = ROOT.resolve("deploy/docker/" + node + "/Dockerfile.jvm");
                assertThat(Files.readString(dockerfile))
                        .as(dockerfile.toString())
                        .contains("ENV " + setting + "\n");
            }
            for (String node : List.of("exit", "entry")) {
                Path unit = ROOT.resolve("deploy/systemd/splitstream-" + node + ".service");
                assertThat(Files.readString(unit)).as(unit.toString()).contains("Environment=" + setting + "\n");
            }
        }
    }

    private static List<String> flags(Path file, String regex) throws IOException {
        Matcher m = Pattern.compile(regex).matcher(Files.readString(file));
        assertThat(m.find()).as("%s has %s", file, regex).isTrue();
        return Arrays.stream(m.group(1).trim().split("\\s+")).toList();
    }
}
