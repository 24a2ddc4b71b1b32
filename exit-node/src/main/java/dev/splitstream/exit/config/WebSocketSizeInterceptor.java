package dev.splitstream.exit.config;

import io.quarkus.runtime.configuration.MemorySize;
import io.quarkus.runtime.configuration.MemorySizeConverter;
import io.smallrye.config.ConfigSourceInterceptor;
import io.smallrye.config.ConfigSourceInterceptorContext;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.Priorities;
import jakarta.annotation.Priority;

/**
 * Derives the WebSocket server's message and frame size limits from splitstream.exit.max-frame (plus the frame
 * header and some slack, so a frame slightly too large reaches the codec and is refused with PROTOCOL_ERROR instead of
 * a bare WebSocket close), unless they are configured explicitly.
 */
@Priority(Priorities.APPLICATION + 100)
public class WebSocketSizeInterceptor implements ConfigSourceInterceptor {
    static final String MAX_MESSAGE = "quarkus.websockets-next.server.max-message-size";
    static final String MAX_FRAME = "quarkus.websockets-next.server.max-frame-size";
    private static final long SLACK = 4096;

    @Override
    public ConfigValue getValue(ConfigSourceInterceptorContext context, String name) {
        ConfigValue value = context.proceed(name);
        if (value != null || !(MAX_MESSAGE.equals(name) || MAX_FRAME.equals(name))) {
            return value;
        }
        long maxFrame = 64 * 1024;
        ConfigValue configured = context.proceed("splitstream.exit.max-frame");
        if (configured != null && configured.getValue() != null) {
            try {
                MemorySize size = new MemorySizeConverter().convert(configured.getValue());
                if (size != null) {
                    maxFrame = size.asLongValue();
                }
            } catch (RuntimeException e) {
                // reported with the key's name by ExitSettings
            }
        }
        // A frame, its header, and the envelope of frame protection (header and tag) when it is sealed.
        long bytes = Math.min(
                Integer.MAX_VALUE,
                maxFrame
                        + dev.splitstream.protocol.FrameCodec.HEADER_LENGTH
                        + dev.splitstream.protocol.FrameProtection.OVERHEAD
                        + SLACK);
        return ConfigValue.builder()
                .withName(name)
                .withValue(Long.toString(bytes))
                .withConfigSourceName("splitstream.exit.max-frame")
                .build();
    }
}
