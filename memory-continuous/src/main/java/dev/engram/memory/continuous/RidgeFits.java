package dev.engram.memory.continuous;

import dev.engram.api.ConfigException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.commons.math3.exception.MathIllegalArgumentException;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.CholeskyDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * The ridge solves B = (F F^T + lambda I)^-1 F X of one basis geometry, cached per position set.
 *
 * <p>The positions a write fits at depend only on the configuration and the segment length n (the
 * first write's (i - 1/2)/n; the update's placements i tau / M and tau + (1 - tau) j / n), never on the
 * data, so each solve is done once per (n, tau) with Commons Math's Cholesky in double and kept as float32
 * matrices that turn every later write into plain matrix products. A fixed tau needs one solve per segment
 * length; tau {@code uniform} changes with every write, so each update solves its own system, O(N^2 (M + n) +
 * N^3) in double (n = 256: about 10 ms at N = M = 64, 0.3 s at N = M = 512), kept for every layer and sequence that
 * reaches the same write (up to 64 MiB of fits per geometry; later writes are solved each time). Instances are
 * shared by all memories of the same geometry (every layer of a model, every sequence) and are thread-safe.
 */
final class RidgeFits {
    /** Condition numbers above this leave fewer than ~4 correct digits of a double solve: refused. */
    static final double MAX_CONDITION = 1e12;
    /** Cached position sets per kind for a fixed tau; segment lengths beyond a few distinct ones are rare. */
    private static final int CACHE_ENTRIES = 16;
    /**
     * Room for a uniform tau's updates, in floats (64 MiB per geometry). Such a tau makes a new position set at every
     * write of a sequence, so these are kept from the first on until the room is used and never evicted: every
     * sequence then solves none of its first writes again (an LRU would keep none once a sequence outgrew it).
     */
    private static final long UNIFORM_CACHE_FLOATS = 16L << 20;
    private static final Map<Geometry, RidgeFits> SHARED = new ConcurrentHashMap<>();

    /** Everything a solve depends on. */
    record Geometry(int basis, List<Double> widths, double lambda, int samples) {
        Geometry {
            widths = List.copyOf(widths);
        }
    }

    /** First write of n rows: B = g X, g is [N, n]. */
    record FirstFit(int n, float[] g) {
    }

    /**
     * Update with n new rows: B' = gOld X_old + gNew X_new with gOld [N, M], gNew [N, n]; for the uniform
     * sample points s_i = i / M, X_old = psi(s)^T B, so B' = uniformOld B + gNew X_new with uniformOld [N, N].
     */
    record UpdateFit(int n, float[] gOld, float[] gNew, float[] uniformOld) {
    }

    /** The position set of an update: n new rows after the old signal placed on [0, tau]. */
    private record UpdateKey(int n, double tau) {
    }

    private final Geometry geometry;
    private final RbfBasis basis;
    /** psi(s) [N, M] at the uniform sample points s_i = i / M: the same for every update's solve. */
    private final double[][] psiUniformSamples;
    private final Map<Integer, FirstFit> first = lru(CACHE_ENTRIES);
    private final Map<UpdateKey, UpdateFit> update = lru(CACHE_ENTRIES);
    /** A uniform tau's updates: one future per position set, so sequences at the same write share one solve. */
    private final Map<UpdateKey, CompletableFuture<UpdateFit>> uniformUpdates = new ConcurrentHashMap<>();
    private final AtomicLong uniformFloats = new AtomicLong();
    private int solves;

    private RidgeFits(Geometry geometry) {
        this.geometry = geometry;
        this.basis = new RbfBasis(geometry.basis(), geometry.widths());
        this.psiUniformSamples = basis.design(uniformSamplePoints(geometry.samples()));
    }

    static RidgeFits shared(Geometry geometry) {
        return SHARED.computeIfAbsent(geometry, RidgeFits::new);
    }

    private static <K, V> Map<K, V> lru(int entries) {
        return new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
                return size() > entries;
            }
        };
    }

    RbfBasis basis() {
        return basis;
    }

    /** Number of Cholesky solves done so far (tests check the cache works). */
    synchronized int solves() {
        return solves;
    }

    static double[] firstPositions(int n) {
        double[] t = new double[n];
        for (int i = 1; i <= n; i++) {
            t[i - 1] = (i - 0.5) / n;
        }
        return t;
    }

    static double[] updatePositions(double tau, int samples, int n) {
        double[] t = new double[samples + n];
        for (int i = 1; i <= samples; i++) {
            t[i - 1] = i * tau / samples;
        }
        for (int j = 1; j <= n; j++) {
            t[samples + j - 1] = tau + (1 - tau) * j / n;
        }
        return t;
    }

    FirstFit first(int n) {
        synchronized (this) {
            FirstFit f = first.get(n);
            if (f != null) {
                return f;
            }
        }
        double[][] g = solve(firstPositions(n));
        FirstFit made = new FirstFit(n, toFloats(g, 0, n));
        synchronized (this) {
            solves++;
            return first.computeIfAbsent(n, k -> made);
        }
    }

    /** The update fit for a fixed tau (a few position sets, kept least recently used first out). */
    UpdateFit update(int n, double tau) {
        UpdateKey key = new UpdateKey(n, tau);
        synchronized (this) {
            UpdateFit f = update.get(key);
            if (f != null) {
                return f;
            }
        }
        UpdateFit made = solveUpdate(n, tau);
        synchronized (this) {
            return update.computeIfAbsent(key, k -> made);
        }
    }

    /**
     * The update fit for a uniform tau's position set (n, tau): solved once while the room lasts, whichever sequence
     * asks first (the others wait for that solve); beyond the room solved every time and not kept.
     */
    UpdateFit uniformUpdate(int n, double tau) {
        UpdateKey key = new UpdateKey(n, tau);
        CompletableFuture<UpdateFit> known = uniformUpdates.get(key);
        if (known == null && uniformFloats.get() >= UNIFORM_CACHE_FLOATS) {
            return solveUpdate(n, tau);
        }
        if (known == null) {
            CompletableFuture<UpdateFit> mine = new CompletableFuture<>();
            known = uniformUpdates.putIfAbsent(key, mine);
            if (known == null) {
                try {
                    UpdateFit made = solveUpdate(n, tau);
                    uniformFloats.addAndGet((long) made.gOld().length + made.gNew().length + made.uniformOld().length);
                    mine.complete(made);
                    return made;
                } catch (RuntimeException | Error e) {
                    uniformUpdates.remove(key, mine);
                    mine.completeExceptionally(e);
                    throw e;
                }
            }
        }
        try {
            return known.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    private UpdateFit solveUpdate(int n, double tau) {
        int m = geometry.samples();
        int size = basis.size();
        double[][] g = solve(updatePositions(tau, m, n));
        // uniformOld = gOld psi(s)^T with s_i = i / M, in double before the one rounding to float.
        double[][] psiS = psiUniformSamples;
        float[] uniformOld = new float[size * size];
        double[] row = new double[size];
        for (int j = 0; j < size; j++) {
            java.util.Arrays.fill(row, 0);
            double[] gj = g[j];
            for (int k = 0; k < size; k++) {
                double[] pk = psiS[k];
                double s = 0;
                for (int i = 0; i < m; i++) {
                    s += gj[i] * pk[i];
                }
                row[k] = s;
            }
            for (int k = 0; k < size; k++) {
                uniformOld[j * size + k] = flushed(row[k]);
            }
        }
        synchronized (this) {
            solves++;
        }
        return new UpdateFit(n, toFloats(g, 0, m), toFloats(g, m, n), uniformOld);
    }

    /**
     * The float32 value, with magnitudes below the smallest normal float (1.2e-38) set to 0: the Gaussian
     * tails of psi make many entries that small, and subnormal operands slow float arithmetic ~100x.
     */
    static float flushed(double v) {
        float f = (float) v;
        return Math.abs(f) < Float.MIN_NORMAL ? 0f : f;
    }

    static double[] uniformSamplePoints(int m) {
        double[] s = new double[m];
        for (int i = 1; i <= m; i++) {
            s[i - 1] = (double) i / m;
        }
        return s;
    }

    private static float[] toFloats(double[][] g, int from, int count) {
        float[] out = new float[g.length * count];
        for (int j = 0; j < g.length; j++) {
            for (int i = 0; i < count; i++) {
                out[j * count + i] = flushed(g[j][from + i]);
            }
        }
        return out;
    }

    /** G = (F F^T + lambda I)^-1 F, N x P, by Cholesky in double. */
    private double[][] solve(double[] positions) {
        int size = basis.size();
        int p = positions.length;
        double[][] f = basis.design(positions);
        double[][] a = new double[size][size];
        for (int j = 0; j < size; j++) {
            double[] fj = f[j];
            for (int k = 0; k <= j; k++) {
                double[] fk = f[k];
                double s = 0;
                for (int i = 0; i < p; i++) {
                    s += fj[i] * fk[i];
                }
                a[j][k] = s;
                a[k][j] = s;
            }
            a[j][j] += geometry.lambda();
        }
        CholeskyDecomposition cholesky;
        try {
            cholesky = new CholeskyDecomposition(new Array2DRowRealMatrix(a, false));
        } catch (MathIllegalArgumentException e) {
            throw illConditioned(Double.POSITIVE_INFINITY, p);
        }
        RealMatrix l = cholesky.getL();
        double maxPivot = 0;
        double minPivot = Double.POSITIVE_INFINITY;
        for (int j = 0; j < size; j++) {
            double pivot = l.getEntry(j, j) * l.getEntry(j, j);
            maxPivot = Math.max(maxPivot, pivot);
            minPivot = Math.min(minPivot, pivot);
        }
        // Pivots of a Cholesky lie within the spectrum, so their ratio bounds the condition number from below.
        if (maxPivot / minPivot > MAX_CONDITION) {
            throw illConditioned(maxPivot / minPivot, p);
        }
        return cholesky.getSolver().solve(new Array2DRowRealMatrix(f, false)).getData();
    }

    private ConfigException illConditioned(double condition, int rows) {
        return new ConfigException("provider 'continuous'", List.of(String.format(
                "the ridge system for a fit of %d rows is ill-conditioned (condition number %.3g > %.0e) with "
                        + "lambda %s, widths %s, basis %d: raise 'lambda' or widen 'widths'",
                rows, condition, MAX_CONDITION, geometry.lambda(), geometry.widths(), geometry.basis())));
    }

    /**
     * An upper bound of the condition number of F F^T + lambda I for the update's position set with
     * {@code n} new rows: lambda_min >= lambda and lambda_max <= lambda + ||F||_1 ||F||_inf. For small
     * lambda the true value is close to this bound (narrow widths leave basis functions untouched, wide
     * ones make them collinear), so it is what the configuration check uses.
     */
    static double conditionBound(RbfBasis basis, double lambda, double[] positions) {
        int size = basis.size();
        double[] colSums = new double[positions.length];
        double maxRow = 0;
        for (int j = 0; j < size; j++) {
            double row = 0;
            for (int i = 0; i < positions.length; i++) {
                double v = basis.psi(j, positions[i]);
                row += v;
                colSums[i] += v;
            }
            maxRow = Math.max(maxRow, row);
        }
        double maxCol = 0;
        for (double c : colSums) {
            maxCol = Math.max(maxCol, c);
        }
        return 1 + maxRow * maxCol / lambda;
    }
}
