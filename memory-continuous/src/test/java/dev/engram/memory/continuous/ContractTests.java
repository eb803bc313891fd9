package dev.engram.memory.continuous;

import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.tck.ConformanceContract;
import dev.engram.tck.LongTermMemoryContract;
import java.util.Map;
import org.junit.jupiter.api.Nested;

/** The test kit's suites for the plain, sticky, uniform-tau and gated variants, and the conformance cases. */
class ContractTests {
    static final Map<String, Object> SMALL = Map.of("basis", 16, "samples", 16, "widths", "0.05,0.1", "bins", 32);

    static Map<String, Object> with(String key, Object value) {
        Map<String, Object> m = new java.util.HashMap<>(SMALL);
        m.put(key, value);
        return m;
    }

    /** The test kit's memory suite on this provider; each variant gives its configuration. */
    abstract static class ContinuousContract extends LongTermMemoryContract {
        @Override
        protected LongTermMemoryProvider provider() {
            return new ContinuousMemoryProvider();
        }
    }

    @Nested
    class Plain extends ContinuousContract {
        @Override
        protected Map<String, Object> config() {
            return SMALL;
        }
    }

    @Nested
    class Sticky extends ContinuousContract {
        @Override
        protected Map<String, Object> config() {
            return with("sticky", true);
        }
    }

    @Nested
    class UniformTau extends ContinuousContract {
        @Override
        protected Map<String, Object> config() {
            Map<String, Object> m = with("tau", "uniform");
            m.put("sticky", true);
            return m;
        }
    }

    @Nested
    class Gated extends ContinuousContract {
        @Override
        protected Map<String, Object> config() {
            Map<String, Object> m = with("inputGate", "conv");
            m.put("resetEvery", 12);
            return m;
        }
    }

    @Nested
    class Conformance extends ConformanceContract {
    }
}
