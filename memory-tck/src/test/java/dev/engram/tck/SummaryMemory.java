package dev.engram.tck;

import dev.engram.api.Capability;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.Gates;
import dev.engram.spi.LayerContext;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SnapshotSupport;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.List;

/**
 * A small correct memory used to test the test kit itself: per kv head it keeps the running sum of
 * the values written; a read returns that sum (times `scale`) to every query head of the group.
 * {@link Flaw} switches on one deliberate bug at a time, and the kit must catch each.
 */
final class SummaryMemory implements LongTermMemoryProvider {
    enum Flaw {
        NONE, READS_OWN_SEGMENT, LOSSY_SNAPSHOT, RESET_KEEPS_STATE, MUTATES_BEFORE_VALIDATING, NONDETERMINISTIC,
        /** An earlier token's readout depends on the segment's last query. */
        NON_CAUSAL,
        /** restore() accepts a snapshot written by another provider. */
        ACCEPTS_FOREIGN_SNAPSHOT,
        /** Declares CONSTANT_STATE_SIZE, but stateBytes() counts every token written. */
        GROWING_STATE,
        /** write() takes v without checking its shape. */
        UNCHECKED_V_SHAPE,
        /** combine() mixes local without checking its shape or values. */
        UNCHECKED_LOCAL,
        /** Every instance reads into one static buffer. */
        SHARED_BUFFER,
        /** Declares VARIABLE_SEGMENT_LENGTH, but fills only as many tokens as its first segment had. */
        STALE_LENGTH,
        /** Declares no VARIABLE_SEGMENT_LENGTH and refuses another length clearly: correct. */
        FIXED_LENGTH,
        /** Declares no VARIABLE_SEGMENT_LENGTH and fails on another length with an IllegalStateException. */
        FIXED_LENGTH_UNCLEAR,
        /** readRows() writes the segment, as if it were a read followed by a write. */
        PARTIAL_ROWS_WRITE,
        /** readRows() reads the segment's first query row, which the runtime fills with zeros. */
        PARTIAL_ROWS_READ_EARLIER_ROWS,
        /** readRows() bumps a counter that is in no snapshot but shifts the next read. */
        PARTIAL_ROWS_HIDDEN_STATE,
        /** readRows() is one ulp off the whole read (within rounding) while EXACT_ROWS is declared. */
        EXACT_ROWS_ONLY_CLOSE,
        /** The same rows one ulp off, with EXACT_ROWS not declared: correct. */
        CLOSE_ROWS_UNDECLARED,
        /** combine() returns the local output unchanged: the memory never reaches the model. */
        IGNORES_READOUT,
        /** write() sums into one static scratch array shared by every instance: a race on two threads. */
        STATIC_SCRATCH,
        /** Correct under the default scale; with any other scale, reads carry a jitter (found only via moreConfigs). */
        JITTER_UNLESS_DEFAULT_SCALE,
        /** write() clears the first value of the segment's v after summing it (an input used as scratch). */
        WRITES_INPUT,
        /** combine() halves its gate weight's first value each call (a weight used as state). */
        WRITES_WEIGHT,
        /** copy() returns a new instance that shares the state array: a fork's writes reach the original. */
        COPY_SHARES_STATE,
        /** copy() returns an empty instance: a fork forgets the past. */
        COPY_FORGETS_STATE
    }

    static final ConfigKey<Double> SCALE = ConfigKey.ofDouble("scale", 1.0, "readout scale").check(v -> v > 0, "> 0");
    private final Flaw flaw;
    private static int counter;
    private static Tensor sharedBuffer;
    private static float[] staticScratch;

    SummaryMemory(Flaw flaw) {
        this.flaw = flaw;
    }

    @Override public String name() { return "summary"; }
    @Override public int spiVersion() { return SpiVersion.CURRENT; }
    @Override public int stateVersion() { return 1; }
    @Override public ConfigSchema configSchema() { return ConfigSchema.of(SCALE); }

    @Override
    public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
        return List.of(WeightSpec.required("gate", spec.heads()));
    }

    @Override
    public boolean supports(Capability c, ProviderConfig config) {
        if (c == Capability.VARIABLE_SEGMENT_LENGTH && (flaw == Flaw.FIXED_LENGTH || flaw == Flaw.FIXED_LENGTH_UNCLEAR)) {
            return false;
        }
        if (c == Capability.EXACT_ROWS && flaw == Flaw.CLOSE_ROWS_UNDECLARED) {
            return false;
        }
        return c != Capability.STOCHASTIC;
    }

    @Override
    public LongTermMemory create(LayerContext context) {
        return new Memory(context);
    }

    final class Memory implements LongTermMemory {
        private final LayerContext context;
        private final float scale;
        private final float[] gates;
        private float[] sums;
        /** Tokens written; part of the state only under GROWING_STATE. */
        private long written;
        /** The first segment's length (STALE_LENGTH, FIXED_LENGTH*); -1 before it. */
        private int firstLength = -1;
        /** readRows calls since the last read (PARTIAL_ROWS_HIDDEN_STATE). */
        private int rowReads;

        Memory(LayerContext context) {
            this.context = context;
            this.scale = context.config().get(SCALE).floatValue();
            this.gates = Gates.sigmoids(context.weights().get("gate"));
            this.sums = new float[context.spec().kvHeads() * context.spec().valueDim()];
        }

        @Override public LayerSpec spec() { return context.spec(); }

        @Override
        public Readout read(Segment segment) {
            Readout r = readFrom(segment, 0);
            if (rowReads > 0) {
                // PARTIAL_ROWS_HIDDEN_STATE: the hidden counter shifts the next whole read, which no snapshot shows
                Tensor values = ((Readout.PerHead) r).values();
                for (int i = 0; i < values.size(); i++) {
                    values.array()[values.offset() + i] += rowReads * 1e-3f;
                }
                rowReads = 0;
            }
            return r;
        }

        @Override
        public Readout readRows(Segment segment, int from) {
            segment.requireRowsFrom(from);
            if (flaw == Flaw.PARTIAL_ROWS_WRITE) {
                write(segment);
            }
            if (flaw == Flaw.PARTIAL_ROWS_HIDDEN_STATE) {
                rowReads++;
            }
            Readout r = readFrom(segment, from);
            if (flaw == Flaw.EXACT_ROWS_ONLY_CLOSE || flaw == Flaw.CLOSE_ROWS_UNDECLARED) {
                Tensor values = ((Readout.PerHead) r).values(); // as a differently ordered sum would round
                for (int i = 0; i < values.size(); i++) {
                    values.array()[values.offset() + i] = Math.nextUp(values.array()[values.offset() + i]);
                }
            }
            return r;
        }

        /** The readout of rows [from, N); every row reads the summary of its kv head. */
        private Readout readFrom(Segment segment, int from) {
            LayerSpec s = spec();
            Tensor q = segment.requireQ(s);
            int n = q.dim(1);
            if (flaw == Flaw.FIXED_LENGTH && firstLength >= 0 && n != firstLength) {
                throw new InvalidInputException("segment", "has " + n + " tokens; provider 'summary' takes segments of "
                        + firstLength + " tokens only, as many as its first (VARIABLE_SEGMENT_LENGTH is not supported)");
            }
            if (flaw == Flaw.FIXED_LENGTH_UNCLEAR && firstLength >= 0 && n != firstLength) {
                throw new IllegalStateException("buffer size");
            }
            if (firstLength < 0) {
                firstLength = n;
            }
            if (flaw == Flaw.READS_OWN_SEGMENT && from == 0) {
                write(segment);
            }
            int rows = n - from;
            Tensor out;
            if (flaw == Flaw.SHARED_BUFFER) {
                if (sharedBuffer == null || sharedBuffer.dim(1) != rows) {
                    sharedBuffer = Tensor.zeros(s.heads(), rows, s.valueDim());
                }
                out = sharedBuffer;
            } else {
                out = Tensor.zeros(s.heads(), rows, s.valueDim());
            }
            float jitter = flaw == Flaw.NONDETERMINISTIC || (flaw == Flaw.JITTER_UNLESS_DEFAULT_SCALE && scale != 1f)
                    ? (counter++) * 1e-3f : 0f;
            int filled = flaw == Flaw.STALE_LENGTH ? Math.min(n, firstLength) : n;
            for (int h = 0; h < s.heads(); h++) {
                int g = s.kvHeadOf(h);
                float lastQuery = flaw == Flaw.NON_CAUSAL ? q.get(h, n - 1, 0) : 0f;
                float firstQuery = flaw == Flaw.PARTIAL_ROWS_READ_EARLIER_ROWS && from > 0 ? q.get(h, 0, 0) : 0f;
                for (int t = from; t < n; t++) {
                    for (int d = 0; d < s.valueDim(); d++) {
                        float sum = sums[g * s.valueDim() + d];
                        out.set(t < filled ? sum * scale + jitter + sum * lastQuery * 1e-3f + firstQuery : 0f, h, t - from, d);
                    }
                }
            }
            return new Readout.PerHead(out);
        }

        @Override
        public Tensor combine(Tensor local, Readout readout) {
            Tensor values = ((Readout.PerHead) readout).values();
            if (flaw != Flaw.UNCHECKED_LOCAL) {
                local.requireShape("local", spec().heads(), values.dim(1), spec().valueDim()).requireFinite("local");
            }
            Tensor out = local.copy();
            if (flaw == Flaw.WRITES_WEIGHT) {
                Tensor gate = context.weights().get("gate");
                gate.array()[gate.offset()] *= 0.5f;
            }
            if (flaw != Flaw.IGNORES_READOUT) {
                Gates.combine(gates, local, values, out);
            }
            return out;
        }

        @Override
        public void write(Segment segment) {
            LayerSpec s = spec();
            if (flaw == Flaw.MUTATES_BEFORE_VALIDATING) {
                sums[0] += 1f;
            }
            Tensor v = flaw == Flaw.UNCHECKED_V_SHAPE ? segment.v().requireFinite("segment.v") : segment.requireV(s);
            segment.requireK(s);
            written += v.dim(1);
            float[] a = v.array();
            float[] target = sums;
            if (flaw == Flaw.STATIC_SCRATCH) {
                // the bug: one scratch for all instances, filled from this instance's sums, summed into, copied back
                if (staticScratch == null || staticScratch.length != sums.length) {
                    staticScratch = new float[sums.length];
                }
                System.arraycopy(sums, 0, staticScratch, 0, sums.length);
                target = staticScratch;
                // hold the shared scratch across a sleep, as a long real loop would, so that the other thread's write
                // lands inside this one even on a machine too loaded to run the two threads truly at once
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            for (int g = 0; g < s.kvHeads(); g++) {
                for (int t = 0; t < v.dim(1); t++) {
                    for (int d = 0; d < s.valueDim(); d++) {
                        target[g * s.valueDim() + d] += a[v.offset() + (g * v.dim(1) + t) * s.valueDim() + d];
                    }
                }
            }
            if (flaw == Flaw.STATIC_SCRATCH) {
                System.arraycopy(staticScratch, 0, sums, 0, sums.length);
            }
            if (flaw == Flaw.WRITES_INPUT) {
                a[v.offset()] = 0f;
            }
        }

        @Override
        public Memory copy() {
            if (flaw != Flaw.COPY_SHARES_STATE && flaw != Flaw.COPY_FORGETS_STATE) {
                return null; // the kit copies through a snapshot, as the runtime does for a provider without copy()
            }
            Memory c = new Memory(context);
            if (flaw == Flaw.COPY_SHARES_STATE) {
                c.sums = sums;
            }
            return c;
        }

        @Override
        public void reset() {
            if (flaw != Flaw.RESET_KEEPS_STATE) {
                sums = new float[sums.length];
                written = 0;
            }
        }

        @Override
        public Snapshot snapshot() {
            return SnapshotSupport.save(context, stateVersion(), w -> {
                float[] saved = sums.clone();
                if (flaw == Flaw.LOSSY_SNAPSHOT) {
                    for (int i = 0; i < saved.length; i++) {
                        saved[i] = (float) (double) Math.round(saved[i] * 1000) / 1000f;
                    }
                }
                w.name("sums").writeFloats(saved);
                if (flaw == Flaw.GROWING_STATE) {
                    w.writeLong(written);
                }
            });
        }

        @Override
        public void restore(Snapshot snapshot) {
            Snapshot checked = flaw == Flaw.ACCEPTS_FOREIGN_SNAPSHOT
                    ? new Snapshot(context.provider(), snapshot.stateVersion(), snapshot.spec(), snapshot.payload())
                    : snapshot;
            SnapshotSupport.load(context, stateVersion(), checked, r -> {
                float[] restored = r.readFloats("sums", sums.length);
                long tokens = flaw == Flaw.GROWING_STATE ? r.readLong() : 0;
                return () -> {
                    sums = restored;
                    written = tokens;
                };
            });
        }

        @Override
        public long stateBytes() {
            return sums.length * 4L + (flaw == Flaw.GROWING_STATE ? written * 4L : 0);
        }
    }
}
