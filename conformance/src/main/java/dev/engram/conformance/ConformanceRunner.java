package dev.engram.conformance;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.api.Attention;
import dev.engram.api.EngramException;
import dev.engram.api.LayerStep;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.SamplingDraws;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Runs conformance cases (docs/conformance.md) against the providers of a registry.
 *
 * <p>A memory case runs, per segment: read; for a per-head readout, {@code output} = combine(local,
 * readout) and {@code memory} = the raw readout; for a model-space readout, {@code output} = the
 * addend; every readout diagnostic (mu, sigma2) under its own name; then write. An attention case
 * runs attend per segment. Positions advance by each segment's length from 0.
 */
public final class ConformanceRunner {
    private final ProviderRegistry registry;

    public ConformanceRunner(ProviderRegistry registry) {
        this.registry = registry;
    }

    /** Checks the case at {@code file}. Never throws for a bad case: the result carries the error. */
    public CaseResult check(Path file) {
        String name = file.getFileName().toString();
        try {
            return check(ConformanceCase.parse(name, Files.readString(file, StandardCharsets.UTF_8)));
        } catch (IOException e) {
            return CaseResult.error(name, "cannot read " + file + ": " + e.getMessage());
        } catch (EngramException e) {
            return CaseResult.error(name, e.getMessage());
        }
    }

    public CaseResult check(ConformanceCase c) {
        if (c.expected().isEmpty()) {
            return CaseResult.error(c.name(), "expected is missing: nothing to check against");
        }
        List<Map<String, Tensor>> actual;
        try {
            actual = produce(c);
        } catch (EngramException e) {
            return CaseResult.error(c.name(), e.getMessage());
        }
        double worstAbs = 0;
        double worstRatio = 0;
        long compared = 0;
        List<String> failures = new ArrayList<>();
        for (int s = 0; s < c.expected().size(); s++) {
            for (Map.Entry<String, Tensor> e : c.expected().get(s).entrySet()) {
                String where = "expected[" + s + "]." + e.getKey();
                Tensor want = e.getValue();
                Tensor got = actual.get(s).get(e.getKey());
                if (got == null) {
                    failures.add(where + " is given but the provider produced no '" + e.getKey() + "' for segment " + s
                            + " (it produced " + actual.get(s).keySet() + ")");
                    continue;
                }
                if (!Arrays.equals(want.shape(), got.shape())) {
                    failures.add(where + " has shape " + Arrays.toString(want.shape()) + "; the provider produced "
                            + Arrays.toString(got.shape()));
                    continue;
                }
                float[] w = want.toArray();
                float[] g = got.toArray();
                int firstBad = -1;
                for (int i = 0; i < w.length; i++) {
                    double err = Math.abs((double) g[i] - w[i]);
                    double allowed = c.absTolerance() + c.relTolerance() * Math.abs(w[i]);
                    double ratio = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / allowed;
                    worstAbs = Math.max(worstAbs, Double.isNaN(err) ? Double.POSITIVE_INFINITY : err);
                    worstRatio = Math.max(worstRatio, ratio);
                    if (ratio > 1 && firstBad < 0) {
                        firstBad = i;
                    }
                }
                compared += w.length;
                if (firstBad >= 0) {
                    failures.add(where + "[flat " + firstBad + "]: expected " + w[firstBad] + ", got " + g[firstBad]);
                }
            }
        }
        if (compared == 0 && failures.isEmpty()) {
            failures.add("the case compares no values: every expected entry is empty");
        }
        return new CaseResult(c.name(), failures.isEmpty(), worstAbs, worstRatio, compared, failures, null);
    }

    /** Runs the case and returns, per segment, every output the provider produced, by name. */
    public List<Map<String, Tensor>> produce(ConformanceCase c) {
        List<Map<String, Tensor>> outputs = new ArrayList<>();
        long position = 0;
        if (c.kind() == ConformanceCase.Kind.ATTENTION) {
            Attention attention = registry.newAttention(c.provider(), 0, c.layer(), c.config(), c.weights());
            for (int s = 0; s < c.segments().size(); s++) {
                Segment segment = segment(c, s, position);
                outputs.add(Map.of("output", attention.attend(segment).copy()));
                position += segment.length();
            }
            return outputs;
        }
        LongTermMemory memory = registry.newMemory(c.provider(), 0, c.layer(), c.config(), c.weights());
        for (int s = 0; s < c.segments().size(); s++) {
            Segment segment = segment(c, s, position);
            int n = segment.length();
            Tensor local = c.segments().get(s).get("local");
            if (local != null) {
                local.requireShape("segments[" + s + "].local", c.layer().heads(), n, c.layer().valueDim());
            }
            Tensor attnOut = local != null ? local.copy() : Tensor.zeros(c.layer().heads(), n, c.layer().valueDim());
            Tensor addendOut = Tensor.zeros(n, c.layer().modelDim());
            Map<String, Tensor> seen = new LinkedHashMap<>();
            final int index = s;
            LayerStep.run(null, memory, segment, attnOut, addendOut, readout -> {
                if (readout instanceof Readout.PerHead p) {
                    if (local == null) {
                        throw new MalformedCaseException(c.name() + ": segments[" + index + "].local is missing; provider '"
                                + c.provider() + "' combines its readout with the local attention output [H, N, dv]");
                    }
                    seen.put("memory", p.values().copy());
                }
                new TreeMap<>(readout.diagnostics()).forEach((k, v) -> seen.put(k, v.copy()));
            });
            Map<String, Tensor> out = new LinkedHashMap<>();
            if (seen.containsKey("memory")) {
                out.put("memory", seen.remove("memory"));
                out.put("output", attnOut);
            } else {
                out.put("output", addendOut);
            }
            out.putAll(seen);
            outputs.add(out);
            position += n;
        }
        return outputs;
    }

    private static Segment segment(ConformanceCase c, int s, long position) {
        Map<String, Tensor> in = c.segments().get(s);
        try {
            Segment segment = new Segment(position, in.get("q"), in.get("k"), in.get("v"), in.get("h"));
            // the ∞-former's sampling draws travel as the typed extension only stochastic providers read
            return in.get("uniforms") == null ? segment : segment.with(new SamplingDraws(in.get("uniforms")));
        } catch (EngramException e) {
            throw new MalformedCaseException(c.name() + ": segments[" + s + "]: " + e.getMessage(), e);
        }
    }

    /** The case document with {@code expected} replaced by what the provider produced. */
    public String emit(ConformanceCase c) {
        List<Map<String, Tensor>> produced = produce(c);
        ObjectNode doc = c.document().deepCopy();
        ArrayNode expected = doc.putArray("expected");
        for (Map<String, Tensor> segment : produced) {
            ObjectNode entry = expected.addObject();
            segment.forEach((k, t) -> {
                ObjectNode tensor = entry.putObject(k);
                ArrayNode shape = tensor.putArray("shape");
                for (int d : t.shape()) {
                    shape.add(d);
                }
                ArrayNode data = tensor.putArray("data");
                for (float x : t.toArray()) {
                    data.add(x);
                }
            });
        }
        try {
            return ConformanceCase.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(doc);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
