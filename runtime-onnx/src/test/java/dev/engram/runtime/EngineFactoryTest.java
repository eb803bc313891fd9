package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.engram.api.ConfigException;
import dev.engram.runtime.config.SessionSettings;
import dev.engram.runtime.config.SessionSettings.Device;
import dev.engram.runtime.onnx.ExecutionProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** One override replaces a binding for every engine the factory builds. */
class EngineFactoryTest {
    /** Delegates to ONNX Runtime's CPU-or-CUDA provider and records what the engine asked of it. */
    private static final class Recording implements ExecutionProvider {
        final List<String> calls = new ArrayList<>();

        @Override
        public Device select(SessionSettings settings, String probeGraph, Consumer<String> warnings) {
            calls.add("select " + settings.device());
            return CPU_OR_CUDA.select(settings, probeGraph, warnings);
        }

        @Override
        public void addTo(OrtSession.SessionOptions options, SessionSettings settings, Device device) throws OrtException {
            calls.add("addTo " + device);
            CPU_OR_CUDA.addTo(options, settings, device);
        }
    }

    @Test
    void anOverriddenExecutionProviderOpensTheGraphs() {
        Recording recording = new Recording();
        EngineFactory factory = EngineFactory.create(b -> b.bind(ExecutionProvider.class).toInstance(recording));
        try (Engine e = factory.loader().systemOverrides(false).load(EngineTest.TINY)) {
            assertEquals(Device.CPU, e.device());
        }
        // the graphs' session options are made once for the package, by the bound provider
        assertEquals(List.of("select CPU", "addTo CPU"), recording.calls);
        // a second loader of the same factory uses it too: the binding holds for everything the injector builds
        try (Engine e = factory.loader().systemOverrides(false).load(EngineTest.TINY)) {
            assertEquals(4, recording.calls.size());
        }
    }

    @Test
    void aProviderThatCannotRunIsReportedAsAConfigProblem() {
        ExecutionProvider refusing = new ExecutionProvider() {
            @Override
            public Device select(SessionSettings settings, String probeGraph, Consumer<String> warnings) {
                return settings.device();
            }

            @Override
            public void addTo(OrtSession.SessionOptions options, SessionSettings settings, Device device) throws OrtException {
                throw new OrtException("no such accelerator here");
            }
        };
        EngineFactory factory = EngineFactory.create(b -> b.bind(ExecutionProvider.class).toInstance(refusing));
        ConfigException e = assertThrows(ConfigException.class, () -> factory.loader().systemOverrides(false).load(EngineTest.TINY));
        assertTrue(e.problems().stream().anyMatch(p -> p.contains("no such accelerator here")), e.getMessage());
        // without the override the same package loads
        try (Engine ok = EngineFactory.create().loader().systemOverrides(false).load(EngineTest.TINY)) {
            assertEquals(Device.CPU, ok.device());
        }
    }
}
