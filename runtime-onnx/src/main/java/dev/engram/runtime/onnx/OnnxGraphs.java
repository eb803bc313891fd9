package dev.engram.runtime.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.engram.runtime.config.SessionSettings;
import dev.engram.runtime.config.SessionSettings.Device;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.runtime.model.ModelManifest.Architecture;
import dev.engram.runtime.model.ModelPackage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The ONNX Runtime sessions of one model package (embedding, per layer pre and post, head), each
 * checked against the graph signatures the manifest's architecture implies.
 */
public final class OnnxGraphs implements AutoCloseable {
    /** Marks an axis that must be dynamic (B or N). */
    static final long DYNAMIC = -1;

    private final OrtSession embed;
    private final OrtSession head;
    private final OrtSession[] pre;
    private final OrtSession[] post;
    private final Device device;

    private OnnxGraphs(OrtSession embed, OrtSession head, OrtSession[] pre, OrtSession[] post, Device device) {
        this.embed = embed;
        this.head = head;
        this.pre = pre;
        this.post = post;
        this.device = device;
    }

    /** An expected graph input or output. {@code dims} uses {@link #DYNAMIC} for B and N; {@code axes} names each axis. */
    record Port(String name, OnnxJavaType type, long[] dims, String[] axes) {
    }

    static Port port(String name, OnnxJavaType type, Object... dimsAndNames) {
        long[] dims = new long[dimsAndNames.length / 2];
        String[] axes = new String[dims.length];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = ((Number) dimsAndNames[2 * i]).longValue();
            axes[i] = (String) dimsAndNames[2 * i + 1];
        }
        return new Port(name, type, dims, axes);
    }

    /** input_ids, and position_ids (absolute positions from 0) when the model has learned position embeddings. */
    static List<Port> embedInputs(Architecture a) {
        Port ids = port("input_ids", OnnxJavaType.INT64, DYNAMIC, "B", DYNAMIC, "N");
        if (a.positional() != null && a.positional().learned()) {
            return List.of(ids, port("position_ids", OnnxJavaType.INT64, DYNAMIC, "B", DYNAMIC, "N"));
        }
        return List.of(ids);
    }

    static List<Port> hiddenPort(String name, Architecture a) {
        return List.of(port(name, OnnxJavaType.FLOAT, DYNAMIC, "B", DYNAMIC, "N", a.modelDim(), "modelDim"));
    }

    static List<Port> preOutputs(Architecture a) {
        return List.of(
                port("q", OnnxJavaType.FLOAT, DYNAMIC, "B", a.heads(), "heads", DYNAMIC, "N", a.keyDim(), "keyDim"),
                port("k", OnnxJavaType.FLOAT, DYNAMIC, "B", a.kvHeads(), "kvHeads", DYNAMIC, "N", a.keyDim(), "keyDim"),
                port("v", OnnxJavaType.FLOAT, DYNAMIC, "B", a.kvHeads(), "kvHeads", DYNAMIC, "N", a.valueDim(), "valueDim"),
                hiddenPort("h", a).get(0));
    }

    static List<Port> postInputs(Architecture a) {
        return List.of(hiddenPort("hidden", a).get(0),
                port("attn", OnnxJavaType.FLOAT, DYNAMIC, "B", a.heads(), "heads", DYNAMIC, "N", a.valueDim(), "valueDim"),
                hiddenPort("addend", a).get(0));
    }

    static List<Port> headOutputs(Architecture a) {
        return List.of(port("logits", OnnxJavaType.FLOAT, DYNAMIC, "B", DYNAMIC, "N", a.vocabSize(), "vocabSize"));
    }

    /**
     * Opens and checks every graph of {@code pkg} on the device {@code provider} selects for {@code settings}.
     * Problems (unloadable files, wrong names, types, ranks or static dimensions) go to {@code problems}; returns null
     * if there were any. A device request that cannot be met falls back and reports one line to {@code warnings}.
     */
    public static OnnxGraphs open(ModelPackage pkg, SessionSettings settings, ExecutionProvider provider,
                                  List<String> problems, Consumer<String> warnings) {
        ModelManifest m = pkg.manifest();
        Architecture a = m.architecture();
        OrtEnvironment env = environment();
        Device device = provider.select(settings, pkg.resolve(m.files().embedding()).toString(), warnings);
        List<OrtSession> opened = new ArrayList<>();
        int before = problems.size();
        try (OrtSession.SessionOptions options = options(settings, device, provider)) {
            OrtSession embed = load(env, options, pkg, m.files().embedding(), embedInputs(a), hiddenPort("hidden", a), problems, opened);
            OrtSession head = load(env, options, pkg, m.files().head(), hiddenPort("hidden", a), headOutputs(a), problems, opened);
            OrtSession[] pre = new OrtSession[a.layers()];
            OrtSession[] post = new OrtSession[a.layers()];
            for (int i = 0; i < a.layers(); i++) {
                ModelManifest.LayerFiles lf = m.files().layers().get(i);
                pre[i] = load(env, options, pkg, lf.pre(), hiddenPort("hidden", a), preOutputs(a), problems, opened);
                post[i] = load(env, options, pkg, lf.post(), postInputs(a), hiddenPort("out", a), problems, opened);
            }
            boolean missing = embed == null || head == null || Arrays.asList(pre).contains(null)
                    || Arrays.asList(post).contains(null);
            if (problems.size() > before || missing) {
                closeAll(opened);
                return null;
            }
            return new OnnxGraphs(embed, head, pre, post, device);
        } catch (OrtException e) {
            closeAll(opened);
            problems.add("ONNX Runtime session options could not be set: " + e.getMessage());
            return null;
        }
    }

    static {
        NativeLibraries.prepare(); // before the first ONNX Runtime class loads its libraries
    }

    /** ONNX Runtime's environment, its native libraries loaded from the cache ({@link NativeLibraries}). */
    public static OrtEnvironment environment() {
        return OrtEnvironment.getEnvironment();
    }

    /** Whether this process can run the CUDA execution provider: null when it can, else the reason. */
    public static String cudaUnavailableReason(int cudaDevice) {
        if (!OrtEnvironment.getAvailableProviders().contains(ai.onnxruntime.OrtProvider.CUDA)) {
            return "this ONNX Runtime build has no CUDA provider; build with -Pcuda for the onnxruntime_gpu artifact";
        }
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.addCUDA(cudaDevice);
            return null;
        } catch (OrtException | RuntimeException | UnsatisfiedLinkError e) {
            return firstLine(e.getMessage());
        }
    }

    /** {@link #cudaUnavailableReason(int)}, and whether a session of {@code probeGraph} opens with {@code provider}'s CUDA options. */
    static String cudaUnavailableReason(SessionSettings s, String probeGraph, ExecutionProvider provider) {
        String reason = cudaUnavailableReason(s.cudaDevice());
        if (reason != null) {
            return reason;
        }
        // The provider library loads; a session proves the driver and the device are there too.
        try (OrtSession.SessionOptions o = options(s, Device.CUDA, provider)) {
            environment().createSession(probeGraph, o).close();
            return null;
        } catch (OrtException | RuntimeException | UnsatisfiedLinkError e) {
            return firstLine(e.getMessage());
        }
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "no reason given";
        }
        int nl = message.indexOf('\n');
        return (nl < 0 ? message : message.substring(0, nl)).trim();
    }

    static OrtSession.SessionOptions options(SessionSettings s, Device device, ExecutionProvider provider) throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        try {
            o.setIntraOpNumThreads(s.intraOpThreads());
            o.setInterOpNumThreads(s.interOpThreads());
            o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            o.setOptimizationLevel(switch (s.optimization()) {
                case NONE -> OrtSession.SessionOptions.OptLevel.NO_OPT;
                case BASIC -> OrtSession.SessionOptions.OptLevel.BASIC_OPT;
                case EXTENDED -> OrtSession.SessionOptions.OptLevel.EXTENDED_OPT;
                case ALL -> OrtSession.SessionOptions.OptLevel.ALL_OPT;
            });
            o.addConfigEntry("session.intra_op.allow_spinning", s.spinning() ? "1" : "0");
            o.addConfigEntry("session.inter_op.allow_spinning", s.spinning() ? "1" : "0");
            provider.addTo(o, s, device);
            return o;
        } catch (OrtException | RuntimeException e) {
            o.close();
            throw e;
        }
    }

    private static OrtSession load(OrtEnvironment env, OrtSession.SessionOptions options, ModelPackage pkg, String file,
                                   List<Port> inputs, List<Port> outputs, List<String> problems, List<OrtSession> opened) {
        if (file == null || !java.nio.file.Files.isRegularFile(pkg.resolve(file))) {
            return null; // the package check reported it
        }
        OrtSession s;
        try {
            s = env.createSession(pkg.resolve(file).toString(), options);
        } catch (OrtException | RuntimeException e) {
            problems.add(file + ": ONNX Runtime cannot load it (corrupt, truncated or not an ONNX model): "
                    + firstLine(e.getMessage()));
            return null;
        }
        opened.add(s);
        try {
            check(file, "input", s.getInputInfo(), inputs, problems);
            check(file, "output", s.getOutputInfo(), outputs, problems);
        } catch (OrtException e) {
            problems.add(file + ": its inputs and outputs cannot be read: " + firstLine(e.getMessage()));
        }
        return s;
    }

    static void check(String file, String kind, Map<String, NodeInfo> actual, List<Port> expected, List<String> problems) {
        Set<String> names = new LinkedHashSet<>();
        expected.forEach(p -> names.add(p.name()));
        for (Port p : expected) {
            NodeInfo ni = actual.get(p.name());
            String what = file + ": " + kind + " '" + p.name() + "'";
            if (ni == null) {
                problems.add(what + " is missing; the graph's " + kind + "s are " + actual.keySet() + "; valid: " + names);
                continue;
            }
            if (!(ni.getInfo() instanceof TensorInfo t)) {
                problems.add(what + " is not a tensor (" + ni.getInfo() + ")");
                continue;
            }
            if (t.type != p.type()) {
                problems.add(what + " has element type " + t.type + "; valid: " + p.type());
            }
            long[] shape = t.getShape();
            if (shape.length != p.dims().length) {
                problems.add(what + " has rank " + shape.length + " " + Arrays.toString(shape) + "; valid: rank "
                        + p.dims().length + " " + describe(p));
                continue;
            }
            for (int i = 0; i < shape.length; i++) {
                long want = p.dims()[i];
                if (want == DYNAMIC && shape[i] >= 0) {
                    problems.add(what + " axis " + i + " (" + p.axes()[i] + ") is fixed to " + shape[i]
                            + "; valid: dynamic (export with dynamic_axes for " + p.axes()[i] + ")");
                } else if (want != DYNAMIC && shape[i] >= 0 && shape[i] != want) {
                    problems.add(what + " axis " + i + " (" + p.axes()[i] + ") is " + shape[i] + "; valid: " + want
                            + " (engram.json architecture." + p.axes()[i] + ")");
                }
            }
        }
        for (String name : actual.keySet()) {
            if (!names.contains(name)) {
                problems.add(file + ": unexpected " + kind + " '" + name + "'; valid " + kind + "s: " + names);
            }
        }
    }

    private static String describe(Port p) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < p.dims().length; i++) {
            sb.append(i == 0 ? "" : ", ").append(p.dims()[i] == DYNAMIC ? p.axes()[i] : p.axes()[i] + "=" + p.dims()[i]);
        }
        return sb.append("]").toString();
    }

    private static void closeAll(List<OrtSession> sessions) {
        for (OrtSession s : sessions) {
            if (s == null) {
                continue;
            }
            try {
                s.close();
            } catch (OrtException ignored) {
                // closing after a failed load: nothing more to report
            }
        }
    }

    public OrtSession embed() {
        return embed;
    }

    public OrtSession head() {
        return head;
    }

    public OrtSession pre(int layer) {
        return pre[layer];
    }

    public OrtSession post(int layer) {
        return post[layer];
    }

    /** Every graph's inputs and outputs as ONNX Runtime reports them, in pipeline order. */
    public List<GraphSignature> signatures(ModelManifest m) {
        List<GraphSignature> out = new ArrayList<>();
        try {
            out.add(signature("embed", m.files().embedding(), embed));
            for (int i = 0; i < pre.length; i++) {
                out.add(signature("layer_" + i + "_pre", m.files().layers().get(i).pre(), pre[i]));
                out.add(signature("layer_" + i + "_post", m.files().layers().get(i).post(), post[i]));
            }
            out.add(signature("head", m.files().head(), head));
        } catch (OrtException e) {
            throw new dev.engram.api.EngramException("ONNX Runtime cannot describe a graph: " + e.getMessage(), e);
        }
        return out;
    }

    private static GraphSignature signature(String role, String file, OrtSession s) throws OrtException {
        return new GraphSignature(role, file, ports(s.getInputInfo().values()), ports(s.getOutputInfo().values()));
    }

    private static List<GraphSignature.Port> ports(java.util.Collection<ai.onnxruntime.NodeInfo> infos) {
        List<GraphSignature.Port> ports = new ArrayList<>();
        for (ai.onnxruntime.NodeInfo n : infos) {
            if (!(n.getInfo() instanceof ai.onnxruntime.TensorInfo t)) {
                ports.add(new GraphSignature.Port(n.getName(), n.getInfo().toString(), List.of()));
                continue;
            }
            long[] shape = t.getShape();
            String[] names = t.getDimensionNames();
            List<String> dims = new ArrayList<>();
            for (int i = 0; i < shape.length; i++) {
                String symbolic = names != null && i < names.length ? names[i] : "";
                dims.add(shape[i] >= 0 ? Long.toString(shape[i]) : symbolic == null || symbolic.isEmpty() ? "?" : symbolic);
            }
            String type = switch (t.onnxType) {
                case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT -> "float32";
                case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 -> "int64";
                default -> t.onnxType.toString().replace("ONNX_TENSOR_ELEMENT_DATA_TYPE_", "").toLowerCase(java.util.Locale.ROOT);
            };
            ports.add(new GraphSignature.Port(n.getName(), type, dims));
        }
        return ports;
    }

    /** The device the sessions actually run on (CPU after a CUDA fallback). */
    public Device device() {
        return device;
    }

    @Override
    public void close() {
        List<OrtSession> all = new ArrayList<>(List.of(embed, head));
        all.addAll(Arrays.asList(pre));
        all.addAll(Arrays.asList(post));
        closeAll(all);
    }
}
