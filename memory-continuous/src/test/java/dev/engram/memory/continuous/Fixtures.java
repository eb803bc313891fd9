package dev.engram.memory.continuous;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.SeededData;
import java.util.Map;

final class Fixtures {
    private Fixtures() {
    }

    static ContinuousMemory memory(LayerSpec spec, Map<String, Object> config, Map<String, Tensor> weights) {
        ContinuousMemoryProvider p = new ContinuousMemoryProvider();
        return (ContinuousMemory) p.create(ProviderRegistry.context(p, 0, spec, config, weights));
    }

    static ContinuousMemory randomMemory(LayerSpec spec, Map<String, Object> config, long seed) {
        ContinuousMemoryProvider p = new ContinuousMemoryProvider();
        var parsed = p.configSchema().parse("test", config);
        return memory(spec, config, SeededData.weights(p.weights(spec, parsed), seed));
    }

    static void write(LongTermMemory m, Tensor h, Tensor uniforms) {
        Segment segment = new Segment(0, null, null, null, h);
        m.write(uniforms == null ? segment : segment.with(new dev.engram.api.SamplingDraws(uniforms)));
    }
}
