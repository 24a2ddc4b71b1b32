package dev.splitstream.operator.crd.v1alpha1;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Fails the build when the CRD committed in crds/ differs from the one generated from the Java classes (run by the
 * exec plugin in the verify phase, after quarkus:build generated it). Fix: copy the generated file over the
 * committed one, or run the build with {@code -Dsplitstream.crd.update=true}.
 */
public final class CrdDriftCheck {
    private CrdDriftCheck() {}

    public static void main(String[] args) throws IOException {
        Path generated = Path.of(args[0]);
        Path committed = Path.of(args[1]);
        boolean update = args.length > 2 && Boolean.parseBoolean(args[2]);
        if (!Files.exists(generated)) {
            throw new IllegalStateException("no generated CRD at " + generated + ": did quarkus:build run?");
        }
        List<String> want = Files.readAllLines(generated);
        List<String> have = Files.exists(committed) ? Files.readAllLines(committed) : List.of();
        if (want.equals(have)) {
            return;
        }
        if (update) {
            Files.createDirectories(committed.getParent());
            Files.write(committed, want);
            System.out.println("updated " + committed + " from " + generated);
            return;
        }
        int line = 0;
        while (line < want.size() && line < have.size() && want.get(line).equals(have.get(line))) {
            line++;
        }
        throw new IllegalStateException("CRD drift: " + committed + " differs from the generated " + generated
                + " from line " + (line + 1) + " (generated: '" + (line < want.size() ? want.get(line) : "<end>")
                + "', committed: '" + (line < have.size() ? have.get(line) : "<end>") + "'). "
                + "Commit the generated CRD: ./mvnw -B -pl operator verify -Dsplitstream.crd.update=true");
    }
}
