package dev.engram.api;

/**
 * One segment of one layer's attention inputs, as the pre-attention block produced them.
 *
 * <p>q, k and v are BEFORE any positional encoding (an {@link Attention} applies its own); h is the
 * attention's input hidden state after the layer norm. Any of them may be null where the provider
 * that receives the segment does not use it; those present must agree on the token count N.
 * The {@code requireX(spec)} accessors check shape and finiteness and name the field on failure.
 *
 * @param startPosition absolute position of the segment's first token in its sequence, from 0
 * @param q        queries [H, N, dk]
 * @param k        keys [G, N, dk]
 * @param v        values [G, N, dv] (or [H, N, dv] for shared-QK attention)
 * @param h        attention-input hidden states [N, e]
 * @param uniforms random draws in [0, 1) for stochastic schemes; null means "use the provider's seeded generator"
 */
public record Segment(long startPosition, Tensor q, Tensor k, Tensor v, Tensor h, Tensor uniforms) {
    public Segment {
        if (startPosition < 0) {
            throw InvalidInputException.outOfRange("segment.startPosition", startPosition, ">= 0");
        }
        int n = -1;
        n = agree(n, q, 1, "segment.q");
        n = agree(n, k, 1, "segment.k");
        n = agree(n, v, 1, "segment.v");
        n = agree(n, h, 0, "segment.h");
        if (n == 0) {
            throw InvalidInputException.outOfRange("segment length", 0, ">= 1 token");
        }
        if (uniforms != null) {
            if (uniforms.rank() != 1) {
                throw new ShapeMismatchException("segment.uniforms", "has rank " + uniforms.rank() + "; expected [M]");
            }
            float[] u = uniforms.array();
            for (int i = 0; i < uniforms.size(); i++) {
                float x = u[uniforms.offset() + i];
                if (!(x >= 0f && x < 1f)) {
                    throw InvalidInputException.outOfRange("segment.uniforms[" + i + "]", x, "[0, 1)");
                }
            }
        }
    }

    /** A segment with queries, keys and values only. */
    public static Segment of(long startPosition, Tensor q, Tensor k, Tensor v) {
        return new Segment(startPosition, q, k, v, null, null);
    }

    private static int agree(int n, Tensor t, int axis, String field) {
        if (t == null) {
            return n;
        }
        int expectedRank = axis == 0 ? 2 : 3;
        if (t.rank() != expectedRank) {
            throw new ShapeMismatchException(field, "has rank " + t.rank() + "; expected "
                    + (axis == 0 ? "[N, e]" : "[heads, N, dim]"));
        }
        int tokens = t.dim(axis);
        if (n >= 0 && tokens != n) {
            throw new ShapeMismatchException(field, "has " + tokens + " tokens; the segment's other inputs have " + n);
        }
        return tokens;
    }

    /** Number of tokens N. */
    public int length() {
        Tensor t = q != null ? q : k != null ? k : v != null ? v : h;
        if (t == null) {
            throw new InvalidInputException("segment", "has no inputs; valid: at least one of q, k, v, h");
        }
        return t == h ? h.dim(0) : t.dim(1);
    }

    /**
     * Checks {@code from}, the first new row of {@link Attention#attendRows} or {@link LongTermMemory#readRows}:
     * in [0, N). Returns it.
     */
    public int requireRowsFrom(int from) {
        int n = length();
        if (from < 0 || from >= n) {
            throw InvalidInputException.outOfRange("from", from, "[0, " + (n - 1) + "] (the segment has " + n + " tokens)");
        }
        return from;
    }

    private static Tensor present(Tensor t, String field) {
        if (t == null) {
            throw new InvalidInputException(field, "is missing; this provider needs it");
        }
        return t;
    }

    /** q as [H, N, dk], finite. */
    public Tensor requireQ(LayerSpec spec) {
        return present(q, "segment.q").requireShape("segment.q", spec.heads(), length(), spec.keyDim())
                .requireFinite("segment.q");
    }

    /** k as [G, N, dk], finite. */
    public Tensor requireK(LayerSpec spec) {
        return present(k, "segment.k").requireShape("segment.k", spec.kvHeads(), length(), spec.keyDim())
                .requireFinite("segment.k");
    }

    /** v as [G, N, dv], finite. */
    public Tensor requireV(LayerSpec spec) {
        return present(v, "segment.v").requireShape("segment.v", spec.kvHeads(), length(), spec.valueDim())
                .requireFinite("segment.v");
    }

    /** v as [H, N, dv] (one value per query head, as shared-QK attention uses), finite. */
    public Tensor requirePerHeadV(LayerSpec spec) {
        return present(v, "segment.v").requireShape("segment.v", spec.heads(), length(), spec.valueDim())
                .requireFinite("segment.v");
    }

    /** h as [N, e], finite. */
    public Tensor requireH(LayerSpec spec) {
        return present(h, "segment.h").requireShape("segment.h", length(), spec.modelDim())
                .requireFinite("segment.h");
    }
}
