package dev.splitstream.exit.config;

import io.smallrye.config.ConfigSourceInterceptor;
import io.smallrye.config.ConfigSourceInterceptorContext;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.Priorities;
import jakarta.annotation.Priority;
import java.util.Set;

/**
 * The datasource, Hibernate ORM and Flyway are built in but active only with {@code splitstream.exit.registry=postgres}
 * (unless configured explicitly): the single node with its in-memory registry needs no database, and Quarkus wants
 * both {@code quarkus.datasource.active=false} and {@code quarkus.hibernate-orm.active=false} for that.
 */
@Priority(Priorities.APPLICATION + 100)
public class RegistryActivationInterceptor implements ConfigSourceInterceptor {
    static final Set<String> SWITCHES =
            Set.of("quarkus.datasource.active", "quarkus.hibernate-orm.active", "quarkus.flyway.active");

    @Override
    public ConfigValue getValue(ConfigSourceInterceptorContext context, String name) {
        ConfigValue value = context.proceed(name);
        if (value != null || !SWITCHES.contains(name)) {
            return value;
        }
        ConfigValue registry = context.proceed("splitstream.exit.registry");
        boolean postgres = registry != null
                && registry.getValue() != null
                && registry.getValue().trim().equalsIgnoreCase("postgres");
        return ConfigValue.builder()
                .withName(name)
                .withValue(Boolean.toString(postgres))
                .withConfigSourceName("splitstream.exit.registry")
                .build();
    }
}
