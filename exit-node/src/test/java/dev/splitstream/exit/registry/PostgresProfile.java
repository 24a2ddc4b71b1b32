package dev.splitstream.exit.registry;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.util.List;

/** The exit with {@code registry=postgres} on a throwaway PostgreSQL cluster ({@link TestPostgres}). */
public class PostgresProfile implements QuarkusTestProfile {
    @Override
    public List<TestResourceEntry> testResources() {
        return List.of(new TestResourceEntry(TestPostgres.class));
    }
}
