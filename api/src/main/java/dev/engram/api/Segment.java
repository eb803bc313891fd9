package dev.engram.api;

import java.util.List;
import java.util.Optional;

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
 * @param h          attention-input hidden states [N, e]
 * @param extensions inputs only some providers take ({@link SegmentExtension}, for example the ∞-former's
 *                   {@link SamplingDraws}), at most one of each type; null or empty for none. A provider asks for the
 *                   one it understands with {@link #extension}; the others never see them.
 */
public record Segment(long startPosition, Tensor q, Tensor k, Tensor v, Tensor h, List<SegmentExtension> extensions) {
    public Segment {
        extensions = extensions == null ? List.of() : List.copyOf(extensions);
        for (int i = 0; i < extensions.size(); i++) {
            for (int j = 0; j < i; j++) {
                if (extensions.get(j).getClass() == extensions.get(i).getClass()) {
                    throw new InvalidInputException("segment.extensions", "has two " + extensions.get(i).getClass()
                            .getSimpleName() + "; valid: at most one extension of each type");
                }
            }
        }
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
    }

    /** A segment with no extensions. */
    public Segment(long startPosition, Tensor q, Tensor k, Tensor v, Tensor h) {
        this(startPosition, q, k, v, h, List.of());
    }

    /** A segment with queries, keys and values only. */
    public static Segment of(long startPosition, Tensor q, Tensor k, Tensor v) {
        return new Segment(startPosition, q, k, v, null, List.of());
    }

    /** This segment with {@code extension} added (replacing one of the same type). */
    public Segment with(SegmentExtension extension) {
        java.util.Objects.requireNonNull(extension, "extension is null");
        List<SegmentExtension> list = new java.util.ArrayList<>(extensions.size() + 1);
        for (SegmentExtension e : extensions) {
            if (e.getClass() != extension.getClass()) {
                list.add(e);
            }
        }
        list.add(extension);
        return new Segment(startPosition, q, k, v, h, list);
    }

    /** The extension of {@code type} the caller supplied, if any. */
    public <T extends SegmentExtension> Optional<T> extension(Class<T> type) {
        for (SegmentExtension e : extensions) {
            if (type.isInstance(e)) {
                return Optional.of(type.cast(e));
            }
        }
        return Optional.empty();
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
        return requireQ(spec, 0);
    }

    /** k as [G, N, dk], finite. */
    public Tensor requireK(LayerSpec spec) {
        return requireK(spec, 0);
    }

    /** v as [G, N, dv], finite. */
    public Tensor requireV(LayerSpec spec) {
        return requireV(spec, 0);
    }

    /**
     * q as [H, N, dk], finite in rows [from, N): what {@link Attention#attendRows} and {@link LongTermMemory#readRows}
     * read (q before {@code from} is unspecified there, and not checked). {@code from} in [0, N].
     */
    public Tensor requireQ(LayerSpec spec, int from) {
        return present(q, "segment.q").requireShape("segment.q", spec.heads(), length(), spec.keyDim())
                .requireFiniteRows("segment.q", from);
    }

    /**
     * k as [G, N, dk], finite in rows [from, N) only: for a provider that has established rows [0, from) itself, for
     * example by finding them bit-identical to rows it checked in an earlier call. {@code from} in [0, N].
     */
    public Tensor requireK(LayerSpec spec, int from) {
        return present(k, "segment.k").requireShape("segment.k", spec.kvHeads(), length(), spec.keyDim())
                .requireFiniteRows("segment.k", from);
    }

    /** v as [G, N, dv], finite in rows [from, N) only (as {@link #requireK(LayerSpec, int)}). */
    public Tensor requireV(LayerSpec spec, int from) {
        return present(v, "segment.v").requireShape("segment.v", spec.kvHeads(), length(), spec.valueDim())
                .requireFiniteRows("segment.v", from);
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
