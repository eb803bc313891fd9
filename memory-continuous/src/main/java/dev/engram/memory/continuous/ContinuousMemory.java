package dev.engram.memory.continuous;

import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Readout;
import dev.engram.api.SamplingDraws;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateReader;
import dev.engram.api.StateWriter;
import dev.engram.api.Tensor;
import dev.engram.memory.continuous.ContinuousMemoryProvider.InputGate;
import dev.engram.spi.LayerContext;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SnapshotSupport;
import dev.engram.spi.Weights;
import dev.engram.spi.kernel.FloatKernels;
import java.util.Arrays;
import java.util.Map;

/**
 * One (sequence, layer) of the ∞-former continuous memory: coefficients B [N, e] in float32.
 *
 * <p>Read: mu and sigma2 per (head, query) from s = q K_h^T / sqrt(dk), computed without forming K as
 * w . s = q . (W_K,h (B^T w)) / sqrt(dk); r_j in closed form; z_h = V_h^T r with V = B W_V^T formed
 * once per write; output concat(z) W_out^T. Write: one cached ridge solve per segment length turns the
 * fit into B' = uniformOld B + gNew X (or, sticky, a sum over the drawn bins). The dense products run on
 * {@link FloatKernels} (SIMD where the JVM offers the Vector API). No allocation per segment once the
 * buffers have grown to the longest segment.
 */
final class ContinuousMemory implements LongTermMemory {
    private static final FloatKernels KERNELS = FloatKernels.get();
    private final LayerContext context;
    private final ContinuousMemoryProvider provider;
    private final LayerSpec spec;
    private final int size;
    private final int e;
    private final int heads;
    private final int dk;
    private final int dv;
    private final int samples;
    private final int bins;
    private final boolean sticky;
    private final boolean gated;
    private final long seed;
    private final long resetEvery;
    private final double sigmaMin2;
    private final double invSqrtDk;
    private final RidgeFits fits;
    private final Tau tau;
    private final RbfBasis basis;
    private final double[] centres;
    private final double[] widthSquares;
    private final int widthCount;
    /** r_j is stored as 0 when its exponent exceeds this: the float value would round to zero anyway. */
    private final double exponentCut;

    // Weights, laid out for row-wise (vectorisable) products.
    private final float[] projKey;   // [H*dk, e]
    private final float[] projValueT; // [e, H*dv]
    private final float[] outT;      // [H*dv, e]
    private final double[] muWeight;
    private final double[] sigmaWeight;
    private final double muBias;
    private final double sigmaBias;
    private final float[] gateWeightT; // [3, e(in), e(out)]
    private final float[] gateBias;
    private final float[] psiEdges;  // [D, N] basis at the bins' left edges (sticky)

    // State.
    private float[] coefficients;
    private boolean empty = true;
    private long tokensSinceReset;
    private long draws;
    private boolean pending;
    private int pendingCount;
    private float[] pendingMu = new float[0];
    private float[] pendingSigma2 = new float[0];

    // Derived from B, rebuilt after each write.
    private boolean derivedValid;
    private final float[] values;    // V [N, H*dv]
    private final double[] keyMu;    // [H*dk] W_K,h B^T w_mu / sqrt(dk)
    private final double[] keySigma; // [H*dk]

    // Scratch.
    private float[] next;
    private float[] output = new float[0];
    private float[] concat = new float[0];
    /** r [n, N]: each query row's weights over the basis functions, for the read's z = r V_h. */
    private float[] rowWeights = new float[0];
    private float[] muOut = new float[0];
    private float[] sigma2Out = new float[0];
    private float[] gatedRows = new float[0];
    private float[] gateLogits = new float[0];
    private final double[] scratchE;
    private final double[] halfInverse;
    private final double[] normaliser;
    private final double[] binP;
    private final double[] binPhi;
    private final double[] binCumulative;
    private final int[] binCounts;
    private final double[] uniforms;
    private final float[] binSum;
    private final float[] binRow;
    private int viewTokens = -1;
    private Tensor outputView;
    private Tensor muView;
    private Tensor sigma2View;

    ContinuousMemory(LayerContext context, ContinuousMemoryProvider provider) {
        this.context = context;
        this.provider = provider;
        this.spec = context.spec();
        ProviderConfig c = context.config();
        this.size = c.get(ContinuousMemoryProvider.BASIS);
        this.e = spec.modelDim();
        this.heads = spec.heads();
        this.dk = spec.keyDim();
        this.dv = spec.valueDim();
        this.samples = c.get(ContinuousMemoryProvider.SAMPLES);
        this.bins = c.get(ContinuousMemoryProvider.BINS);
        this.sticky = c.get(ContinuousMemoryProvider.STICKY);
        this.gated = c.get(ContinuousMemoryProvider.INPUT_GATE) == InputGate.CONV;
        this.seed = c.get(ContinuousMemoryProvider.SEED);
        this.resetEvery = c.get(ContinuousMemoryProvider.RESET_EVERY);
        this.sigmaMin2 = c.get(ContinuousMemoryProvider.SIGMA_MIN2);
        this.invSqrtDk = 1.0 / Math.sqrt(dk);
        this.fits = RidgeFits.shared(new RidgeFits.Geometry(size, c.get(ContinuousMemoryProvider.WIDTHS),
                c.get(ContinuousMemoryProvider.LAMBDA), samples));
        this.tau = c.get(ContinuousMemoryProvider.TAU);
        this.basis = fits.basis();
        this.widthCount = basis.widthCount();
        this.centres = new double[size];
        this.widthSquares = new double[widthCount];
        double minWidth2 = Double.POSITIVE_INFINITY;
        for (int j = 0; j < size; j++) {
            centres[j] = basis.centre(j);
        }
        for (int w = 0; w < widthCount; w++) {
            widthSquares[w] = basis.width(w) * basis.width(w);
            minWidth2 = Math.min(minWidth2, widthSquares[w]);
        }
        double maxNorm = 1.0 / Math.sqrt(2 * Math.PI * (sigmaMin2 + minWidth2));
        // r_j below the smallest normal float (2^-126) is dropped: exp(-x) * maxNorm < 2^-126 <=> x > ln(maxNorm)
        // + 126 ln 2. Such terms change nothing at float32 precision, and subnormal operands cost ~100x.
        this.exponentCut = Math.log(maxNorm) + 126 * Math.log(2);

        Weights w = context.weights();
        int hk = heads * dk;
        int hv = heads * dv;
        this.projKey = w.get("proj_key").toArray();
        this.projValueT = transpose(w.get("proj_value").toArray(), hv, e);
        this.outT = transpose(w.get("out").toArray(), e, hv);
        this.muWeight = toDoubles(w.get("mu.weight"));
        this.sigmaWeight = toDoubles(w.get("sigma.weight"));
        this.muBias = w.get("mu.bias").toArray()[0];
        this.sigmaBias = w.get("sigma.bias").toArray()[0];
        if (gated) {
            float[] g = w.get("gate.weight").toArray(); // [out, in, 3]
            gateWeightT = new float[3 * e * e];
            for (int o = 0; o < e; o++) {
                for (int in = 0; in < e; in++) {
                    for (int k = 0; k < 3; k++) {
                        gateWeightT[(k * e + in) * e + o] = g[(o * e + in) * 3 + k];
                    }
                }
            }
            gateBias = w.get("gate.bias").toArray();
        } else {
            gateWeightT = null;
            gateBias = null;
        }
        if (sticky) {
            psiEdges = new float[bins * size];
            for (int b = 0; b < bins; b++) {
                for (int j = 0; j < size; j++) {
                    psiEdges[b * size + j] = RidgeFits.flushed(basis.psi(j, (double) b / bins));
                }
            }
        } else {
            psiEdges = null;
        }
        this.coefficients = new float[size * e];
        this.next = new float[size * e];
        this.values = new float[size * hv];
        this.keyMu = new double[hk];
        this.keySigma = new double[hk];
        this.scratchE = new double[e];
        this.halfInverse = new double[widthCount];
        this.normaliser = new double[widthCount];
        this.binP = new double[bins];
        this.binPhi = new double[bins + 1];
        this.binCumulative = new double[bins];
        this.binCounts = new int[bins];
        this.uniforms = new double[samples];
        this.binSum = new float[size];
        this.binRow = new float[e];
    }

    /** For {@link #copy()}: the same configuration and shared read-only weight layouts, new state and scratch. */
    private ContinuousMemory(ContinuousMemory o) {
        this.context = o.context;
        this.provider = o.provider;
        this.spec = o.spec;
        this.size = o.size;
        this.e = o.e;
        this.heads = o.heads;
        this.dk = o.dk;
        this.dv = o.dv;
        this.samples = o.samples;
        this.bins = o.bins;
        this.sticky = o.sticky;
        this.gated = o.gated;
        this.seed = o.seed;
        this.resetEvery = o.resetEvery;
        this.sigmaMin2 = o.sigmaMin2;
        this.invSqrtDk = o.invSqrtDk;
        this.fits = o.fits;
        this.tau = o.tau;
        this.basis = o.basis;
        this.centres = o.centres;
        this.widthSquares = o.widthSquares;
        this.widthCount = o.widthCount;
        this.exponentCut = o.exponentCut;
        this.projKey = o.projKey;
        this.projValueT = o.projValueT;
        this.outT = o.outT;
        this.muWeight = o.muWeight;
        this.sigmaWeight = o.sigmaWeight;
        this.muBias = o.muBias;
        this.sigmaBias = o.sigmaBias;
        this.gateWeightT = o.gateWeightT;
        this.gateBias = o.gateBias;
        this.psiEdges = o.psiEdges;
        this.coefficients = new float[o.coefficients.length];
        this.next = new float[o.next.length];
        this.values = new float[o.values.length];
        this.keyMu = new double[o.keyMu.length];
        this.keySigma = new double[o.keySigma.length];
        this.scratchE = new double[e];
        this.halfInverse = new double[widthCount];
        this.normaliser = new double[widthCount];
        this.binP = new double[bins];
        this.binPhi = new double[bins + 1];
        this.binCumulative = new double[bins];
        this.binCounts = new int[bins];
        this.uniforms = new double[samples];
        this.binSum = new float[size];
        this.binRow = new float[e];
    }

    private static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        return t;
    }

    private static double[] toDoubles(Tensor t) {
        float[] a = t.toArray();
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    @Override
    public LayerSpec spec() {
        return spec;
    }

    // ---------------------------------------------------------------- read

    @Override
    public Readout read(Segment segment) {
        Tensor q = segment.requireQ(spec);
        if (segment.h() != null) {
            // Not read: checked here so that a segment the write would refuse fails before the read
            // changes the remembered (mu, sigma), leaving the state exactly as it was.
            segment.requireH(spec);
        }
        checkUniforms(segment);
        int n = q.dim(1);
        Readout readout = readFrom(q, 0);
        if (empty) {
            pending = false;
        } else if (sticky) {
            int count = heads * n;
            if (pendingMu.length < count) {
                pendingMu = new float[count];
                pendingSigma2 = new float[count];
            }
            System.arraycopy(muOut, 0, pendingMu, 0, count);
            System.arraycopy(sigma2Out, 0, pendingSigma2, 0, count);
            pendingCount = count;
            pending = true;
        }
        return readout;
    }

    /**
     * Each query row reads alone (its mu, sigma2 and z depend on that row and B only), so rows [from, N) are read
     * exactly as {@link #read} reads them; what a sticky read remembers for the next write is left as it was.
     */
    @Override
    public Readout readRows(Segment segment, int from) {
        int first = segment.requireRowsFrom(from);
        return readFrom(segment.requireQ(spec, first), first); // rows before from are not read
    }

    /** The readout of query rows [from, N) into the output buffers; changes no state. */
    private Readout readFrom(Tensor q, int from) {
        int rows = q.dim(1) - from;
        ensureTokens(rows);
        if (empty) {
            Arrays.fill(output, 0, rows * e, 0f);
            return new Readout.ModelSpace(outputView);
        }
        ensureDerived();
        computeMuSigma(q, from, muOut, sigma2Out);
        int n = rows;
        Arrays.fill(concat, 0, n * heads * dv, 0f);
        int hv = heads * dv;
        for (int h = 0; h < heads; h++) {
            for (int t = 0; t < n; t++) {
                int at = h * n + t;
                basisWeights(muOut[at], sigma2Out[at], rowWeights, t * size);
            }
            // z_h [n, dv] = r [n, N] V_h [N, dv], into head h's columns of concat [n, H*dv]
            KERNELS.addProduct(concat, h * dv, hv, rowWeights, 0, size, 1, values, h * dv, hv, n, size, dv);
        }
        // output [n, e] = concat [n, H*dv] W_out^T
        Arrays.fill(output, 0, n * e, 0f);
        KERNELS.addProduct(output, 0, e, concat, 0, hv, 1, outT, 0, e, n, hv, e);
        return new Readout.ModelSpace(outputView, Map.of("mu", muView, "sigma2", sigma2View));
    }

    /**
     * mu and sigma2 [H, N - from] of query rows [from, N) of q [H, N, dk]; stored as float32 (the values sticky
     * sampling and snapshots keep).
     */
    private void computeMuSigma(Tensor q, int from, float[] mu, float[] sigma2) {
        float[] qa = q.array();
        int qo = q.offset();
        int all = q.dim(1);
        int n = all - from;
        for (int h = 0; h < heads; h++) {
            for (int t = 0; t < n; t++) {
                int base = qo + (h * all + from + t) * dk;
                double am = 0;
                double as = 0;
                for (int d = 0; d < dk; d++) {
                    am += qa[base + d] * keyMu[h * dk + d];
                    as += qa[base + d] * keySigma[h * dk + d];
                }
                mu[h * n + t] = (float) sigmoid(am + muBias);
                sigma2[h * n + t] = (float) Math.max(softplus(as + sigmaBias), sigmaMin2);
            }
        }
    }

    /**
     * r[ro + j] = Normal(mu; c_j, sigma2 + w_j^2) for the N basis functions, as float32; 0 where it is below
     * float32's normal range (those terms of z = V^T r are dropped, as before the SIMD products).
     */
    private void basisWeights(double mu, double sigma2, float[] r, int ro) {
        double[] halfInv = halfInverse;
        double[] norm = normaliser;
        for (int w = 0; w < widthCount; w++) {
            double var = sigma2 + widthSquares[w];
            halfInv[w] = 0.5 / var;
            norm[w] = 1.0 / Math.sqrt(2 * Math.PI * var);
        }
        for (int j = 0; j < size; j++) {
            int w = j % widthCount;
            double d = mu - centres[j];
            double x = d * d * halfInv[w];
            float rj = 0f;
            if (x < exponentCut) {
                rj = (float) (norm[w] * Math.exp(-x));
                if (rj < Float.MIN_NORMAL) {
                    rj = 0f;
                }
            }
            r[ro + j] = rj;
        }
    }

    static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }

    /** torch.nn.functional.softplus (beta 1, threshold 20). */
    static double softplus(double x) {
        return x > 20 ? x : Math.log1p(Math.exp(x));
    }

    private void ensureDerived() {
        if (derivedValid) {
            return;
        }
        int hv = heads * dv;
        Arrays.fill(values, 0f);
        // V [N, H dv] = B [N, e] x W_V^T [e, H dv]
        KERNELS.addProduct(values, 0, coefficients, 0, e, 1, projValueT, 0, size, e, hv);
        projectWeighted(muWeight, keyMu);
        projectWeighted(sigmaWeight, keySigma);
        derivedValid = true;
    }

    /** key[h*dk + d] = (W_K (B^T w))[h*dk + d] / sqrt(dk): w . (q K_h^T) / sqrt(dk) = q . key_h. */
    private void projectWeighted(double[] weight, double[] key) {
        Arrays.fill(scratchE, 0);
        for (int j = 0; j < size; j++) {
            double wj = weight[j];
            int bj = j * e;
            for (int c = 0; c < e; c++) {
                scratchE[c] += wj * coefficients[bj + c];
            }
        }
        for (int k = 0; k < heads * dk; k++) {
            double s = 0;
            int row = k * e;
            for (int c = 0; c < e; c++) {
                s += projKey[row + c] * scratchE[c];
            }
            key[k] = s * invSqrtDk;
        }
    }

    @Override
    public Tensor combine(Tensor local, Readout readout) {
        if (readout instanceof Readout.ModelSpace) {
            return local;
        }
        throw new InvalidInputException("readout", "is a per-head readout; provider 'continuous' reads a "
                + "model-space addend (Readout.ModelSpace) that the post-attention block adds");
    }

    // ---------------------------------------------------------------- write

    @Override
    public void write(Segment segment) {
        Tensor h = segment.requireH(spec);
        checkUniforms(segment);
        int n = h.dim(0);
        boolean reset = resetEvery > 0 && tokensSinceReset >= resetEvery;
        boolean first = empty || reset;
        boolean needsQueries = sticky && !first && !pending;
        Tensor q = needsQueries ? segment.requireQ(spec) : null;
        // Everything validated: from here on the state changes only at the commit below.
        ensureTokens(n);
        float[] x = h.array();
        int xo = h.offset();
        if (gated) {
            gate(h, n);
            x = gatedRows;
            xo = 0;
        }
        Arrays.fill(next, 0f);
        long drawsUsed = 0;
        if (first) {
            RidgeFits.FirstFit fit = fits.first(n);
            multiplyInto(fit.g(), n, x, xo, next);
        } else {
            double share = tau.forUpdate(tokensSinceReset, n);
            RidgeFits.UpdateFit fit = tau.uniform() ? fits.uniformUpdate(n, share) : fits.update(n, share);
            if (sticky) {
                float[] mu = pendingMu;
                float[] s2 = pendingSigma2;
                int count = pendingCount;
                if (needsQueries) {
                    ensureDerived();
                    mu = muOut;
                    s2 = sigma2Out;
                    count = heads * n;
                    computeMuSigma(q, 0, mu, s2);
                }
                drawsUsed = drawUniforms(segment);
                StickySampler.binWeights(mu, s2, count, bins, binP, binPhi);
                StickySampler.drawCounts(binP, bins, uniforms, samples, binCounts, binCumulative);
                stickyOld(fit.gOld());
            } else {
                multiplyInto(fit.uniformOld(), size, coefficients, 0, next);
            }
            multiplyAccumulate(fit.gNew(), n, x, xo, next);
        }
        for (int i = 0; i < next.length; i++) {
            if (Math.abs(next[i]) < Float.MIN_NORMAL) {
                next[i] = 0f; // flush subnormals: they are noise at float32 precision and slow every later product
            } else if (!Float.isFinite(next[i])) {
                throw new NonFiniteStateException(context.describe() + " (all heads): coefficient B[" + (i / e) + ", "
                        + (i % e) + "] became " + next[i] + " in this write; the state was left as before the segment");
            }
        }
        float[] swap = coefficients;
        coefficients = next;
        next = swap;
        empty = false;
        tokensSinceReset = (reset ? 0 : tokensSinceReset) + n;
        draws += drawsUsed;
        pending = false;
        derivedValid = false;
        // V and the mu/sigma keys depend only on B: built here, once per write, so reads stay cheap.
        ensureDerived();
    }

    private long drawUniforms(Segment segment) {
        Tensor u = segment.extension(SamplingDraws.class).map(SamplingDraws::uniforms).orElse(null);
        if (u != null) {
            float[] a = u.array();
            for (int i = 0; i < samples; i++) {
                uniforms[i] = a[u.offset() + i];
            }
            return 0;
        }
        for (int i = 0; i < samples; i++) {
            uniforms[i] = UniformStream.draw(seed, draws + i);
        }
        return samples;
    }

    /**
     * next += gOld X_old for the sticky sample points. Draws that land in the same bin read the same old
     * row psi(edge_b)^T B and fill consecutive columns of gOld (the points are sorted), so each drawn bin
     * costs one row read and one rank-1 update, whatever the number of samples.
     */
    private void stickyOld(float[] gOld) {
        int column = 0;
        for (int b = 0; b < bins; b++) {
            int count = binCounts[b];
            if (count == 0) {
                continue;
            }
            Arrays.fill(binRow, 0f);
            int pb = b * size;
            for (int k = 0; k < size; k++) {
                float p = psiEdges[pb + k];
                if (p != 0f) {
                    axpy(p, coefficients, k * e, binRow, 0, e);
                }
            }
            for (int j = 0; j < size; j++) {
                float s = 0f;
                int gj = j * samples + column;
                for (int i = 0; i < count; i++) {
                    s += gOld[gj + i];
                }
                binSum[j] = s;
            }
            for (int j = 0; j < size; j++) {
                if (binSum[j] != 0f) {
                    axpy(binSum[j], binRow, 0, next, j * e, e);
                }
            }
            column += count;
        }
    }

    /** X <- X * sigmoid(conv1d(X)), kernel 3, padding 1, into gatedRows [n, e]. */
    private void gate(Tensor h, int n) {
        float[] x = h.array();
        int xo = h.offset();
        for (int t = 0; t < n; t++) {
            System.arraycopy(gateBias, 0, gateLogits, t * e, e);
            for (int k = 0; k < 3; k++) {
                int src = t + k - 1;
                if (src < 0 || src >= n) {
                    continue;
                }
                for (int in = 0; in < e; in++) {
                    float v = x[xo + src * e + in];
                    if (v != 0f) {
                        axpy(v, gateWeightT, (k * e + in) * e, gateLogits, t * e, e);
                    }
                }
            }
        }
        for (int i = 0; i < n * e; i++) {
            gatedRows[i] = (float) (x[xo + i] * sigmoid(gateLogits[i]));
        }
    }

    /** out [N, e] = m [N, cols] x [cols, e] (out pre-zeroed). */
    private void multiplyInto(float[] m, int cols, float[] x, int xo, float[] out) {
        multiplyAccumulate(m, cols, x, xo, out);
    }

    /** out [N, e] += m [N, cols] x [cols, e], on the SIMD kernels (the fits' and the write's matrix products). */
    private void multiplyAccumulate(float[] m, int cols, float[] x, int xo, float[] out) {
        KERNELS.addProduct(out, 0, m, 0, cols, 1, x, xo, size, cols, e);
    }

    private static void axpy(float a, float[] x, int xo, float[] y, int yo, int length) {
        for (int i = 0; i < length; i++) {
            y[yo + i] += a * x[xo + i];
        }
    }

    private void checkUniforms(Segment segment) {
        Tensor u = segment.extension(SamplingDraws.class).map(SamplingDraws::uniforms).orElse(null);
        if (sticky && u != null && u.size() != samples) {
            throw new InvalidInputException("segment.uniforms", "has " + u.size() + " values; valid: exactly "
                    + "'samples' (" + samples + ") draws in [0, 1)");
        }
    }

    private void ensureTokens(int n) {
        if (n == viewTokens) {
            return;
        }
        int hv = heads * dv;
        if (output.length < n * e) {
            output = new float[n * e];
            concat = new float[n * hv];
            rowWeights = new float[n * size];
            muOut = new float[n * heads];
            sigma2Out = new float[n * heads];
            if (gated) {
                gatedRows = new float[n * e];
                gateLogits = new float[n * e];
            }
        }
        outputView = Tensor.view(output, 0, n, e);
        muView = Tensor.view(muOut, 0, heads, n);
        sigma2View = Tensor.view(sigma2Out, 0, heads, n);
        viewTokens = n;
    }

    // ---------------------------------------------------------------- state

    @Override
    public void reset() {
        Arrays.fill(coefficients, 0f);
        empty = true;
        tokensSinceReset = 0;
        draws = 0;
        pending = false;
        pendingCount = 0;
        derivedValid = false;
    }

    /**
     * A copy with this state: the coefficients, counters, the remembered sticky read and the structures derived from
     * the coefficients (copied, not rebuilt). The weights' read-only layouts are shared; scratch is the copy's own.
     */
    @Override
    public ContinuousMemory copy() {
        ContinuousMemory c = new ContinuousMemory(this);
        System.arraycopy(coefficients, 0, c.coefficients, 0, coefficients.length);
        c.empty = empty;
        c.tokensSinceReset = tokensSinceReset;
        c.draws = draws;
        c.pending = pending;
        c.pendingCount = pendingCount;
        c.pendingMu = pendingMu.clone();
        c.pendingSigma2 = pendingSigma2.clone();
        c.derivedValid = derivedValid;
        if (derivedValid) {
            System.arraycopy(values, 0, c.values, 0, values.length);
            System.arraycopy(keyMu, 0, c.keyMu, 0, keyMu.length);
            System.arraycopy(keySigma, 0, c.keySigma, 0, keySigma.length);
        }
        return c;
    }

    @Override
    public Snapshot snapshot() {
        return SnapshotSupport.save(context, provider.stateVersion(), this::writeState);
    }

    private void writeState(StateWriter w) {
        w.name("empty").writeBoolean(empty);
        if (!empty) {
            w.name("coefficients").writeFloats(coefficients);
        }
        w.name("tokensSinceReset").writeLong(tokensSinceReset);
        w.name("draws").writeLong(draws);
        w.name("pending").writeBoolean(pending);
        if (pending) {
            w.name("pendingMu").writeFloats(pendingMu, 0, pendingCount);
            w.name("pendingSigma2").writeFloats(pendingSigma2, 0, pendingCount);
        }
    }

    @Override
    public void restore(Snapshot snapshot) {
        SnapshotSupport.load(context, provider.stateVersion(), snapshot, this::readState);
    }

    private Runnable readState(StateReader r) {
        boolean isEmpty = r.readBoolean();
        float[] b = isEmpty ? new float[size * e] : r.readFloats("coefficients", size * e);
        for (int i = 0; i < b.length; i++) {
            if (!Float.isFinite(b[i])) {
                throw new SnapshotException("snapshot.coefficients[" + i + "] is " + b[i] + "; valid: finite values");
            }
        }
        long tokens = r.readLong();
        long drawn = r.readLong();
        if (tokens < 0 || drawn < 0) {
            throw new SnapshotException("snapshot counters are " + tokens + " tokens and " + drawn
                    + " draws; valid: >= 0");
        }
        if (tau.uniform() && !isEmpty && tokens == 0) {
            // Every write counts its rows; a uniform tau gives the old signal tokens / (tokens + n) of the domain.
            throw new SnapshotException("snapshot.tokensSinceReset is 0 while the memory is not empty; valid with "
                    + "tau uniform: >= 1 (every write counts its rows)");
        }
        boolean hasPending = r.readBoolean();
        float[] mu = new float[0];
        float[] s2 = new float[0];
        if (hasPending) {
            mu = r.readFloatsUpTo("mu", Integer.MAX_VALUE - 8);
            s2 = r.readFloats("sigma2", mu.length);
            if (!sticky || mu.length == 0 || mu.length % heads != 0) {
                throw new SnapshotException("snapshot holds " + mu.length + " remembered reads; valid: a positive "
                        + "multiple of heads (" + heads + ") and only with sticky: true");
            }
            for (int i = 0; i < mu.length; i++) {
                if (!(mu[i] >= 0f && mu[i] <= 1f) || !(s2[i] > 0f) || !Float.isFinite(s2[i])) {
                    throw new SnapshotException("snapshot remembered read " + i + " has mu " + mu[i] + ", sigma2 "
                            + s2[i] + "; valid: mu in [0, 1], sigma2 finite and > 0");
                }
            }
        }
        final float[] pmu = mu;
        final float[] ps2 = s2;
        return () -> {
            coefficients = b;
            empty = isEmpty;
            tokensSinceReset = tokens;
            draws = drawn;
            pending = hasPending;
            pendingCount = pmu.length;
            if (hasPending) {
                pendingMu = pmu;
                pendingSigma2 = ps2;
            }
            derivedValid = false;
        };
    }

    @Override
    public long stateBytes() {
        return 4L * coefficients.length + (pending ? 8L * pendingCount : 0);
    }

    // ---------------------------------------------------------------- for tests in this package

    /** The live coefficients B [N, e] (read-only use). */
    float[] coefficients() {
        return coefficients;
    }

    boolean isEmpty() {
        return empty;
    }

    RidgeFits fits() {
        return fits;
    }

    /** Remembers (mu, sigma2) [H * tokens] as if this segment's read had produced them (sticky tests). */
    void rememberRead(float[] mu, float[] sigma2) {
        pendingMu = mu.clone();
        pendingSigma2 = sigma2.clone();
        pendingCount = mu.length;
        pending = true;
    }
}
