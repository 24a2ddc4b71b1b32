package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** EXPOSE and EXPOSE_RESULT through two sessions: unnumbered, role-checked, and reverse streams to a service name. */
class ExposeSessionTest {
    static final class Agent extends Recorder {
        final List<Frame.ExposeResult> results = new ArrayList<>();

        @Override
        public void onExposeResult(Frame.ExposeResult result) {
            results.add(result);
        }
    }

    static final class Exit extends Recorder {
        final List<Frame.Expose> announced = new ArrayList<>();

        @Override
        public void onExpose(Frame.Expose expose) {
            announced.add(expose);
        }
    }

    private final Agent agent = new Agent();
    private final Exit exit = new Exit();

    private Link link() throws Exception {
        return new Link(Limits.defaults(), agent, exit).connect();
    }

    private static void deliverAll(Link link) throws Exception {
        while (link.deliverToServer() | link.deliverToClient()) {
            // until both queues are empty
        }
    }

    @Test
    void announcementAndGrantsTravelUnnumbered() throws Exception {
        Link link = link();
        Frame.Expose expose = new Frame.Expose(
                "laptop", false, List.of(new Frame.ExposedService("ssh", Frame.ServiceKind.TCP, 0, "127.0.0.1:22")));
        assertThat(link.client.sendControl(expose)).isTrue();
        deliverAll(link);
        assertThat(exit.announced).containsExactly(expose);
        Frame.ExposeResult result =
                new Frame.ExposeResult(List.of(new Frame.Grant("ssh", true, 10000, "tcp://exit:10000")));
        assertThat(link.server.sendControl(result)).isTrue();
        deliverAll(link);
        assertThat(agent.results).containsExactly(result);
        assertThat(link.client.lastSentSeq()).isZero();
        assertThat(link.server.lastSentSeq()).isZero();
    }

    @Test
    void aDetachedSessionSendsNoControlFrame() throws Exception {
        Link link = link();
        link.drop();
        assertThat(link.client.sendControl(new Frame.Expose("a", true, List.of())))
                .isFalse();
    }

    @Test
    void eachRoleSendsOnlyItsOwnControlFrame() throws Exception {
        Link link = link();
        assertThatThrownBy(() -> link.server.sendControl(new Frame.Expose("a", true, List.of())))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> link.client.sendControl(new Frame.ExposeResult(List.of())))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> link.client.receive(new Frame.Expose("a", true, List.of())))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("EXPOSE sent to a client");
    }

    @Test
    void theServerOpensAStreamToAServiceName() throws Exception {
        Link link = link();
        Recorder handler = new Recorder();
        Stream s = link.server.open("ssh", 0, handler);
        deliverAll(link);
        assertThat(agent.events).contains("opened " + s.id() + " ssh:0");
        assertThat(s.id() % 2).isZero();
    }
}
