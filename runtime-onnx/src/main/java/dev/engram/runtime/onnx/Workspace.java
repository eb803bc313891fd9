package dev.engram.runtime.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.engram.api.EngramException;
import dev.engram.runtime.model.ModelManifest.Architecture;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The graphs' input and output tensors for one shape (B sequences, N tokens), as ONNX Runtime
 * tensors over direct, native-order buffers that every shape shares. Outputs are pinned: ONNX
 * Runtime writes into these buffers, so a segment allocates no tensor memory. A {@link Pool} keeps
 * the few shapes in use (full segments, the last partial one, single tokens while decoding). The head has its own
 * input and output buffers ({@link Head}): it runs only on the rows whose logits are wanted.
 */
public final class Workspace implements AutoCloseable {
    public final int batch;
    public final int tokens;
    public final OnnxTensor ids;
    /** Absolute positions of the rows (learned position embeddings only; else null). */
    public final OnnxTensor positions;
    public final OnnxTensor hiddenA;
    public final OnnxTensor hiddenB;
    public final OnnxTensor q;
    public final OnnxTensor k;
    public final OnnxTensor v;
    public final OnnxTensor h;
    public final OnnxTensor attn;
    public final OnnxTensor addend;
    private final List<OnnxTensor> all = new ArrayList<>();
    /** Input and pinned-output maps, made once per shape; index 0 reads hiddenA, 1 reads hiddenB. */
    public final Map<String, OnnxTensor> embedIn;
    public final Map<String, OnnxTensor> embedOut;
    public final List<Map<String, OnnxTensor>> hiddenIn;
    public final Map<String, OnnxTensor> preOut;
    public final List<Map<String, OnnxTensor>> postIn;
    /** postOut.get(i) writes the other hidden buffer than postIn.get(i) reads. */
    public final List<Map<String, OnnxTensor>> postOut;

    private Workspace(OrtEnvironment env, Pool pool, int b, int n) throws OrtException {
        Architecture a = pool.arch;
        this.batch = b;
        this.tokens = n;
        try {
            ids = add(OnnxTensor.createTensor(env, slice(pool.ids, b * n), new long[] {b, n}));
            positions = pool.positions == null ? null
                    : add(OnnxTensor.createTensor(env, slice(pool.positions, b * n), new long[] {b, n}));
            hiddenA = add(floats(env, pool.hiddenA, b, n, a.modelDim()));
            hiddenB = add(floats(env, pool.hiddenB, b, n, a.modelDim()));
            q = add(floats(env, pool.q, b, a.heads(), n, a.keyDim()));
            k = add(floats(env, pool.k, b, a.kvHeads(), n, a.keyDim()));
            v = add(floats(env, pool.v, b, a.kvHeads(), n, a.valueDim()));
            h = add(floats(env, pool.h, b, n, a.modelDim()));
            attn = add(floats(env, pool.attn, b, a.heads(), n, a.valueDim()));
            addend = add(floats(env, pool.addend, b, n, a.modelDim()));
            embedIn = positions == null ? Map.of("input_ids", ids) : Map.of("input_ids", ids, "position_ids", positions);
            embedOut = Map.of("hidden", hiddenA);
            hiddenIn = List.of(Map.of("hidden", hiddenA), Map.of("hidden", hiddenB));
            preOut = Map.of("q", q, "k", k, "v", v, "h", h);
            postIn = List.of(Map.of("hidden", hiddenA, "attn", attn, "addend", addend),
                    Map.of("hidden", hiddenB, "attn", attn, "addend", addend));
            postOut = List.of(Map.of("out", hiddenB), Map.of("out", hiddenA));
        } catch (OrtException | RuntimeException e) {
            close();
            throw e;
        }
    }

    private OnnxTensor add(OnnxTensor t) {
        all.add(t);
        return t;
    }

    private static OnnxTensor floats(OrtEnvironment env, FloatBuffer shared, long... shape) throws OrtException {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return OnnxTensor.createTensor(env, slice(shared, (int) n), shape);
    }

    private static FloatBuffer slice(FloatBuffer b, int n) {
        return b.duplicate().clear().limit(n).slice();
    }

    private static LongBuffer slice(LongBuffer b, int n) {
        return b.duplicate().clear().limit(n).slice();
    }

    @Override
    public void close() {
        all.forEach(OnnxTensor::close);
        all.clear();
    }

    /** The shared buffers, sized for the largest batch seen and the segment length, and the workspaces over them. */
    public static final class Pool implements AutoCloseable {
        private static final int MAX_SHAPES = 8;
        final Architecture arch;
        private final int maxTokens;
        private final OrtEnvironment env;
        /** Rows (batch x tokens) the shared buffers hold; the head's buffers hold {@code headCapacity} rows. */
        private int capacityRows;
        private int headCapacity;
        public LongBuffer ids;
        /** Null unless the architecture has learned positions. */
        public LongBuffer positions;
        public FloatBuffer hiddenA;
        public FloatBuffer hiddenB;
        public FloatBuffer q;
        public FloatBuffer k;
        public FloatBuffer v;
        public FloatBuffer h;
        public FloatBuffer attn;
        public FloatBuffer addend;
        private FloatBuffer headHidden;
        private FloatBuffer logits;
        private final Map<Long, Workspace> shapes = new LinkedHashMap<>(16, 0.75f, true);
        private final Map<Integer, Head> heads = new LinkedHashMap<>(16, 0.75f, true);

        public Pool(OrtEnvironment env, Architecture arch, int maxTokens) {
            this.env = env;
            this.arch = arch;
            this.maxTokens = maxTokens;
        }

        /**
         * The workspace for B = {@code batch}, N = {@code tokens}; the buffers grow to hold batch x tokens rows (in
         * whole segments), which closes the workspaces made before.
         */
        public Workspace get(int batch, int tokens) {
            if (tokens < 1 || batch < 1) {
                throw new IllegalArgumentException("batch " + batch + ", tokens " + tokens + ": both must be >= 1");
            }
            long rows = (long) batch * tokens;
            if (rows > capacityRows) {
                grow((int) Math.min(Integer.MAX_VALUE, (rows + maxTokens - 1) / maxTokens * maxTokens));
            }
            long key = ((long) batch << 32) | tokens;
            Workspace w = shapes.get(key);
            if (w == null) {
                if (shapes.size() >= MAX_SHAPES) {
                    var eldest = shapes.entrySet().iterator().next();
                    eldest.getValue().close();
                    shapes.remove(eldest.getKey());
                }
                try {
                    w = new Workspace(env, this, batch, tokens);
                } catch (OrtException e) {
                    throw new EngramException("ONNX Runtime could not create the input tensors for batch " + batch
                            + ", " + tokens + " tokens: " + e.getMessage(), e);
                }
                shapes.put(key, w);
            }
            return w;
        }

        /** The head's input [1, rows, e] and pinned output [1, rows, vocab], over buffers of its own. */
        public Head head(int rows) {
            if (rows > headCapacity) {
                heads.values().forEach(Head::close);
                heads.clear();
                headCapacity = Math.max(rows, headCapacity);
                headHidden = floats((long) headCapacity * arch.modelDim());
                logits = floats((long) headCapacity * arch.vocabSize());
            }
            Head h = heads.get(rows);
            if (h == null) {
                if (heads.size() >= MAX_SHAPES) {
                    var eldest = heads.entrySet().iterator().next();
                    eldest.getValue().close();
                    heads.remove(eldest.getKey());
                }
                try {
                    h = new Head(env, this, rows);
                } catch (OrtException e) {
                    throw new EngramException("ONNX Runtime could not create the head's tensors for " + rows + " rows: "
                            + e.getMessage(), e);
                }
                heads.put(rows, h);
            }
            return h;
        }

        private void grow(int rows) {
            shapes.values().forEach(Workspace::close);
            shapes.clear();
            capacityRows = rows;
            long bn = rows;
            ids = direct(bn * 8).asLongBuffer();
            positions = arch.positional() != null && arch.positional().learned() ? direct(bn * 8).asLongBuffer() : null;
            hiddenA = floats(bn * arch.modelDim());
            hiddenB = floats(bn * arch.modelDim());
            q = floats(bn * arch.heads() * arch.keyDim());
            k = floats(bn * arch.kvHeads() * arch.keyDim());
            v = floats(bn * arch.kvHeads() * arch.valueDim());
            h = floats(bn * arch.modelDim());
            attn = floats(bn * arch.heads() * arch.valueDim());
            addend = floats(bn * arch.modelDim());
        }

        private static FloatBuffer floats(long n) {
            return direct(n * 4).asFloatBuffer();
        }

        private static ByteBuffer direct(long bytes) {
            if (bytes > Integer.MAX_VALUE) {
                throw new EngramException("a segment buffer of " + bytes + " bytes exceeds 2 GiB; use a smaller batch");
            }
            return ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
        }

        @Override
        public void close() {
            shapes.values().forEach(Workspace::close);
            shapes.clear();
            heads.values().forEach(Head::close);
            heads.clear();
        }
    }

    /**
     * The head's tensors for {@code rows} rows: the caller copies the rows whose logits it wants into {@link #hidden},
     * runs the head on {@link #in} / {@link #out} and reads {@link #logits}.
     */
    public static final class Head implements AutoCloseable {
        public final FloatBuffer hidden;
        public final FloatBuffer logits;
        public final Map<String, OnnxTensor> in;
        public final Map<String, OnnxTensor> out;
        private final OnnxTensor hiddenTensor;
        private final OnnxTensor logitsTensor;

        private Head(OrtEnvironment env, Pool pool, int rows) throws OrtException {
            hidden = pool.headHidden;
            logits = pool.logits;
            hiddenTensor = floats(env, pool.headHidden, 1, rows, pool.arch.modelDim());
            try {
                logitsTensor = floats(env, pool.logits, 1, rows, pool.arch.vocabSize());
            } catch (OrtException | RuntimeException e) {
                hiddenTensor.close();
                throw e;
            }
            in = Map.of("hidden", hiddenTensor);
            out = Map.of("logits", logitsTensor);
        }

        @Override
        public void close() {
            hiddenTensor.close();
            logitsTensor.close();
        }
    }
}
