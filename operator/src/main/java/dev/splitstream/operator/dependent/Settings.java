package dev.splitstream.operator.dependent;

import dev.splitstream.operator.model.OperatorDefaults;
import org.eclipse.microprofile.config.Config;
import org.eclipse.microprofile.config.ConfigProvider;

/** Operator-wide defaults from configuration ({@code splitstream.operator.*}, env SPLITSTREAM_OPERATOR_*). */
public final class Settings {
    private Settings() {}

    public static OperatorDefaults defaults() {
        Config config = ConfigProvider.getConfig();
        OperatorDefaults builtIn = OperatorDefaults.BUILT_IN;
        return new OperatorDefaults(
                config.getOptionalValue("splitstream.operator.exit-image", String.class)
                        .orElse(builtIn.exitImage()),
                config.getOptionalValue("splitstream.operator.entry-image", String.class)
                        .orElse(builtIn.entryImage()),
                config.getOptionalValue("splitstream.operator.image-pull-policy", String.class)
                        .orElse(builtIn.imagePullPolicy()),
                config.getOptionalValue("splitstream.operator.sidecar-management-port", Integer.class)
                        .orElse(builtIn.sidecarManagementPort()));
    }
}
