package dev.splitstream.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class ModelIndependenceTest {
    @Test
    void desiredStateBuildersImportNoOperatorSdk() throws IOException {
        try (Stream<Path> files = Files.list(Path.of("src/main/java/dev/splitstream/operator/model"))) {
            List<Path> sources =
                    files.filter(p -> p.toString().endsWith(".java")).toList();
            assertThat(sources).isNotEmpty();
            for (Path source : sources) {
                assertThat(Files.readString(source)).as(source.toString()).doesNotContain("io.javaoperatorsdk");
            }
        }
    }
}
