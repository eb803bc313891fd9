package dev.engram.cli.bench;

import dev.engram.api.Attention;
import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.AttentionProvider;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.LayerContext;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.WeightSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * A registry whose providers are the real ones wrapped with a stopwatch: every call into an attention or memory
 * (attend, attendRows, append, read, readRows, combine, write) adds its wall time to {@link #nanos()}: the time spent in the Java plugins. The
 * whole time outside ONNX Runtime (plugins plus the runtime's copies and glue) is the segment time minus
 * {@code Engine.onnxNanos()}. Calls may come from several threads (a batch runs its sequences' plugins on the
 * plugin helpers); their times add up, so with several sequences the total may exceed the wall time.
 */
public final class TimedProviders {
    private final java.util.concurrent.atomic.LongAdder nanos = new java.util.concurrent.atomic.LongAdder();

    public long nanos() {
        return nanos.sum();
    }

    public void reset() {
        nanos.reset();
    }

    /** Runs {@code call}, adding its wall time to {@link #nanos()}. */
    private <T> T timed(java.util.function.Supplier<T> call) {
        long t = System.nanoTime();
        try {
            return call.get();
        } finally {
            nanos.add(System.nanoTime() - t);
        }
    }

    /** Every provider of {@code base}, wrapped. */
    public ProviderRegistry wrap(ProviderRegistry base) {
        List<Provider> wrapped = new ArrayList<>();
        for (String name : base.attentionNames()) {
            wrapped.add(new TimedAttentionProvider(base.attention(name)));
        }
        for (String name : base.memoryNames()) {
            wrapped.add(new TimedMemoryProvider(base.memory(name)));
        }
        return ProviderRegistry.of(wrapped);
    }

    private abstract static class Delegating implements Provider {
        final Provider p;

        Delegating(Provider p) {
            this.p = p;
        }

        @Override
        public String name() {
            return p.name();
        }

        @Override
        public int spiVersion() {
            return p.spiVersion();
        }

        @Override
        public int stateVersion() {
            return p.stateVersion();
        }

        @Override
        public ConfigSchema configSchema() {
            return p.configSchema();
        }

        @Override
        public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
            return p.weights(spec, config);
        }

        @Override
        public boolean supports(Capability capability, ProviderConfig config) {
            return p.supports(capability, config);
        }
    }

    private final class TimedAttentionProvider extends Delegating implements AttentionProvider {
        TimedAttentionProvider(AttentionProvider p) {
            super(p);
        }

        @Override
        public Attention create(LayerContext context) {
            return timedAttention(((AttentionProvider) p).create(context));
        }
    }

    /** {@code a} with its calls timed; its copies (forks of a sequence) are timed too. */
    private Attention timedAttention(Attention a) {
        return new Attention() {
            @Override
            public LayerSpec spec() {
                return a.spec();
            }

            @Override
            public Tensor attend(Segment segment) {
                return timed(() -> a.attend(segment));
            }

            @Override
            public Tensor attendRows(Segment segment, int from) {
                return timed(() -> a.attendRows(segment, from));
            }

            @Override
            public Tensor attendNewRows(Segment segment, int from) {
                return timed(() -> a.attendNewRows(segment, from));
            }

            @Override
            public void append(Segment segment) {
                timed(() -> {
                    a.append(segment);
                    return null;
                });
            }

            @Override
            public void reset() {
                a.reset();
            }

            @Override
            public Attention copy() {
                Attention c = (Attention) a.copy();
                return c == null ? null : timedAttention(c);
            }

            @Override
            public Snapshot snapshot() {
                return a.snapshot();
            }

            @Override
            public void restore(Snapshot snapshot) {
                a.restore(snapshot);
            }

            @Override
            public long stateBytes() {
                return a.stateBytes();
            }
        };
    }

    private final class TimedMemoryProvider extends Delegating implements LongTermMemoryProvider {
        TimedMemoryProvider(LongTermMemoryProvider p) {
            super(p);
        }

        @Override
        public LongTermMemory create(LayerContext context) {
            return timedMemory(((LongTermMemoryProvider) p).create(context));
        }
    }

    /** {@code m} with its calls timed; its copies (forks of a sequence) are timed too. */
    private LongTermMemory timedMemory(LongTermMemory m) {
        return new LongTermMemory() {
            @Override
            public LayerSpec spec() {
                return m.spec();
            }

            @Override
            public Readout read(Segment segment) {
                return timed(() -> m.read(segment));
            }

            @Override
            public Readout readRows(Segment segment, int from) {
                return timed(() -> m.readRows(segment, from));
            }

            @Override
            public Tensor combine(Tensor local, Readout readout) {
                return timed(() -> m.combine(local, readout));
            }

            @Override
            public void write(Segment segment) {
                timed(() -> {
                    m.write(segment);
                    return null;
                });
            }

            @Override
            public void reset() {
                m.reset();
            }

            @Override
            public LongTermMemory copy() {
                LongTermMemory c = (LongTermMemory) m.copy();
                return c == null ? null : timedMemory(c);
            }

            @Override
            public Snapshot snapshot() {
                return m.snapshot();
            }

            @Override
            public void restore(Snapshot snapshot) {
                m.restore(snapshot);
            }

            @Override
            public long stateBytes() {
                return m.stateBytes();
            }
        };
    }
}
