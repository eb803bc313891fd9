package dev.engram.spi;

import dev.engram.api.Attention;
import dev.engram.api.Capability;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.ProviderException;
import dev.engram.api.Tensor;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The providers on the class path, found with {@link ServiceLoader} and looked up by name. For runtimes, tools and
 * programs that embed Engram: a plugin's provider and state classes never need it (a provider is given its
 * {@link LayerContext}); it sits in this jar only because runtimes and the test kit share it. Not a plugin API:
 * it may change with any SPI version.
 *
 * <p>Loading is strict about names: a malformed name or a name registered twice within a kind fails here, with the
 * classes named, instead of first-wins. A plugin that cannot be used (a class missing from its jar, a services file
 * naming a class that is not there, built against another SPI version) does not stop the providers that work: it is
 * kept as a {@link BrokenPlugin}, reported by {@link #broken()}, and its problem is the error of any lookup that
 * could have meant it. So a command that never names it runs, and one that does fails saying why.
 */
public final class ProviderRegistry {
    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9-]{0,63}");
    /** ServiceLoader resumes after a failing entry; this bounds the loop should an iterator fail the same way forever. */
    private static final int MAX_FAILURES = 1000;

    /**
     * A plugin listed in a services file that could not be loaded.
     *
     * @param name the provider's name where it is known (an SPI version mismatch), else null
     * @param what the class or the services entry, for people
     * @param problem one line: what went wrong and what to do
     */
    public record BrokenPlugin(String name, String what, String problem) {
        public BrokenPlugin {
            java.util.Objects.requireNonNull(what, "what is null");
            java.util.Objects.requireNonNull(problem, "problem is null");
        }
    }

    private final Map<String, AttentionProvider> attentions;
    private final Map<String, LongTermMemoryProvider> memories;
    private final List<BrokenPlugin> broken;

    private ProviderRegistry(Map<String, AttentionProvider> attentions, Map<String, LongTermMemoryProvider> memories,
                             List<BrokenPlugin> broken) {
        this.attentions = Collections.unmodifiableMap(attentions);
        this.memories = Collections.unmodifiableMap(memories);
        this.broken = List.copyOf(broken);
    }

    /**
     * Every provider visible to {@code loader}. A listed class that is missing, cannot be linked against this
     * runtime (NoClassDefFoundError, AbstractMethodError, ...), cannot be instantiated or was built against another
     * SPI version is recorded in {@link #broken()} (with the class and its services file named), never thrown as a
     * linkage error later. A malformed or duplicate name still fails here.
     */
    public static ProviderRegistry load(ClassLoader loader) {
        List<Provider> found = new ArrayList<>();
        List<BrokenPlugin> broken = new ArrayList<>();
        loadAll(AttentionProvider.class, loader, found, broken);
        loadAll(LongTermMemoryProvider.class, loader, found, broken);
        List<Provider> usable = new ArrayList<>();
        for (Provider p : found) {
            String name;
            try {
                name = p.name();
            } catch (RuntimeException | LinkageError e) {
                broken.add(new BrokenPlugin(null, p.getClass().getName(), "provider class " + p.getClass().getName()
                        + " has no usable name(): " + e + "; " + REBUILD));
                continue;
            }
            checkName(p); // a malformed name is the plugin author's bug, which any test of the plugin finds: loud
            try {
                check(p);
                usable.add(p);
            } catch (ProviderException e) {
                broken.add(new BrokenPlugin(name, p.getClass().getName(), e.getMessage()));
            } catch (RuntimeException e) {
                broken.add(new BrokenPlugin(name, p.getClass().getName(), "provider '" + name + "' (" + p.getClass().getName()
                        + ") failed when asked for its versions or config schema: " + e));
            }
        }
        for (BrokenPlugin b : broken) {
            if (WARNED.add(b.problem())) {
                LOG.log(System.Logger.Level.WARNING, "skipping a plugin that cannot be loaded (commands that do not name it"
                        + " still run): " + b.problem());
            }
        }
        return of(usable, broken);
    }

    private static final System.Logger LOG = System.getLogger(ProviderRegistry.class.getName());
    /** Each broken plugin is reported once per process, however often the class path is scanned. */
    private static final java.util.Set<String> WARNED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private static void loadAll(Class<? extends Provider> kind, ClassLoader loader, List<Provider> found,
                                List<BrokenPlugin> broken) {
        Iterator<? extends Provider> it = ServiceLoader.load(kind, loader).iterator();
        String culprits = null;
        for (int failures = 0; failures < MAX_FAILURES; ) {
            try {
                if (!it.hasNext()) {
                    return;
                }
                found.add(it.next());
            } catch (ServiceConfigurationError e) {
                failures++;
                culprits = culprits != null ? culprits : listedIn(kind, loader);
                broken.add(new BrokenPlugin(null, "an entry of META-INF/services/" + kind.getName(),
                        "a provider listed in META-INF/services/" + kind.getName() + " could not be loaded: " + e.getMessage()
                        + (e.getCause() != null ? " (" + e.getCause() + ")" : "") + culprits + "; " + REBUILD));
            } catch (LinkageError e) {
                // ServiceLoader only wraps ClassNotFoundException: a class whose own dependencies are missing or
                // changed (built against another Engram) surfaces as a raw LinkageError from the iterator.
                failures++;
                culprits = culprits != null ? culprits : listedIn(kind, loader);
                broken.add(new BrokenPlugin(null, "an entry of META-INF/services/" + kind.getName(),
                        "a provider listed in META-INF/services/" + kind.getName() + " cannot be linked against this runtime: "
                        + e + culprits + "; " + REBUILD));
            }
        }
    }

    private static final String REBUILD = "the plugin's jar is incomplete or was built against another Engram:"
            + " rebuild it against memory-spi " + SpiVersion.CURRENT;

    /**
     * Which listed classes fail to load (diagnostics only, on the error path), with the services file that
     * lists them: "; failing: class a.B (its error), listed in jar:...!/META-INF/services/..."; empty if none can be pinned down.
     */
    private static String listedIn(Class<?> kind, ClassLoader loader) {
        List<String> culprits = new ArrayList<>();
        try {
            Enumeration<URL> files = loader.getResources("META-INF/services/" + kind.getName());
            while (files.hasMoreElements()) {
                URL file = files.nextElement();
                try (BufferedReader in = new BufferedReader(new InputStreamReader(file.openStream(), StandardCharsets.UTF_8))) {
                    for (String line = in.readLine(); line != null; line = in.readLine()) {
                        String name = line.replaceFirst("#.*", "").trim();
                        if (name.isEmpty()) {
                            continue;
                        }
                        try {
                            Class.forName(name, false, loader);
                        } catch (ClassNotFoundException | LinkageError e) {
                            culprits.add("class " + name + " (" + e + "), listed in " + file);
                        }
                    }
                }
            }
        } catch (IOException e) {
            return "";
        }
        return culprits.isEmpty() ? "" : "; failing: " + String.join("; ", culprits);
    }
    /** Every provider visible to this class's loader. */
    public static ProviderRegistry load() {
        return load(ProviderRegistry.class.getClassLoader());
    }

    /** A registry over exactly {@code providers} (tests, embedding). Same checks as {@link #load}, but every problem throws. */
    public static ProviderRegistry of(List<? extends Provider> providers) {
        for (Provider p : providers) {
            check(p);
        }
        return of(providers, List.of());
    }

    private static ProviderRegistry of(List<? extends Provider> providers, List<BrokenPlugin> broken) {
        Map<String, AttentionProvider> attentions = new TreeMap<>();
        Map<String, LongTermMemoryProvider> memories = new TreeMap<>();
        for (Provider p : providers) {
            if (p instanceof AttentionProvider a) {
                putUnique(attentions, a, "attention");
            }
            if (p instanceof LongTermMemoryProvider m) {
                putUnique(memories, m, "memory");
            }
        }
        return new ProviderRegistry(attentions, memories, broken);
    }

    private static void check(Provider p) {
        try {
            checkName(p);
            checkSpiVersion(p);
            p.stateVersion();
            p.configSchema();
        } catch (LinkageError e) {
            // e.g. AbstractMethodError: compiled against an SPI without one of these methods
            throw new ProviderException("provider class " + p.getClass().getName()
                    + " does not match this runtime's memory-spi " + SpiVersion.CURRENT + ": " + e + "; " + REBUILD, e);
        }
    }

    private static void checkName(Provider p) {
        String name = p.name();
        if (name == null || !NAME.matcher(name).matches()) {
            throw new ProviderException("provider " + p.getClass().getName() + " has name '" + name
                    + "'; valid: lower-case letters, digits and '-', starting with a letter, at most 64 characters");
        }
    }

    private static void checkSpiVersion(Provider p) {
        if (!SpiVersion.compatible(p.spiVersion(), SpiVersion.OLDEST_SUPPORTED, SpiVersion.CURRENT)) {
            throw new ProviderException("provider '" + p.name() + "' (" + p.getClass().getName() + ") was built against "
                    + "engram memory-spi version " + p.spiVersion() + "; this runtime provides version " + SpiVersion.CURRENT
                    + (SpiVersion.OLDEST_SUPPORTED == SpiVersion.CURRENT ? "" : " and runs plugins built against "
                    + SpiVersion.accepted()) + ": rebuild the plugin against memory-spi " + SpiVersion.CURRENT
                    + " or use a matching Engram");
        }
    }

    private static <P extends Provider> void putUnique(Map<String, P> map, P provider, String kind) {
        P previous = map.putIfAbsent(provider.name(), provider);
        if (previous != null) {
            throw new ProviderException("two " + kind + " providers are named '" + provider.name() + "': "
                    + previous.getClass().getName() + " and " + provider.getClass().getName()
                    + "; remove one jar from the class path or rename one provider");
        }
    }

    /** The plugins that were listed but could not be loaded; empty when every plugin works. */
    public List<BrokenPlugin> broken() {
        return broken;
    }

    public LongTermMemoryProvider memory(String name) {
        LongTermMemoryProvider p = memories.get(name);
        if (p == null) {
            throw unknown("no memory provider named '" + name + "'; available: " + memories.keySet()
                    + (attentions.containsKey(name) ? " ('" + name + "' is an attention provider)" : ""), name, memories.keySet());
        }
        return p;
    }

    public AttentionProvider attention(String name) {
        AttentionProvider p = attentions.get(name);
        if (p == null) {
            throw unknown("no attention provider named '" + name + "'; available: " + attentions.keySet()
                    + (memories.containsKey(name) ? " ('" + name + "' is a memory provider)" : ""), name, attentions.keySet());
        }
        return p;
    }

    /** Looks up an attention or memory provider by name (names may repeat across the two kinds; attention wins). */
    public Provider any(String name) {
        if (attentions.containsKey(name)) {
            return attentions.get(name);
        }
        if (memories.containsKey(name)) {
            return memories.get(name);
        }
        java.util.Set<String> all = new java.util.TreeSet<>(attentions.keySet());
        all.addAll(memories.keySet());
        throw unknown("no provider named '" + name + "'; available attention: " + attentions.keySet()
                + ", memory: " + memories.keySet(), name, all);
    }

    /**
     * The error for a name nothing answers to: the broken plugin of that name if there is one; else the message,
     * a "did you mean", and what failed to load or, with nothing broken, how plugins reach the class path.
     */
    private ProviderException unknown(String message, String name, java.util.Collection<String> candidates) {
        for (BrokenPlugin b : broken) {
            if (name.equals(b.name())) {
                return new ProviderException(b.problem());
            }
        }
        String hint = broken.isEmpty()
                ? "; a plugin's jar must be on the class path (for ./engram: ENGRAM_PLUGINS=DIR, a folder of jars or one jar)"
                : "; " + broken.size() + (broken.size() == 1 ? " plugin" : " plugins") + " could not be loaded: "
                        + String.join(" | ", broken.stream().map(BrokenPlugin::problem).toList());
        return new ProviderException(message + Suggestions.suggestion(name, candidates) + hint);
    }

    public List<String> memoryNames() {
        return List.copyOf(memories.keySet());
    }

    public List<String> attentionNames() {
        return List.copyOf(attentions.keySet());
    }

    /** Parses config, validates weights and creates a memory, reporting config and weight problems together. */
    public LongTermMemory newMemory(String name, int layer, LayerSpec spec, Map<String, ?> config, Map<String, Tensor> weights) {
        LongTermMemoryProvider p = memory(name);
        return p.create(context(p, layer, spec, config, weights));
    }

    /** Parses config, validates weights and creates an attention, reporting config and weight problems together. */
    public Attention newAttention(String name, int layer, LayerSpec spec, Map<String, ?> config, Map<String, Tensor> weights) {
        AttentionProvider p = attention(name);
        return p.create(context(p, layer, spec, config, weights));
    }

    /**
     * Whether {@code p}, configured as {@code config}, declares {@code capability}. A provider built against an
     * older {@link Capability} whose exhaustive {@code switch} has no branch for a newer constant throws instead
     * of answering (MatchException, or IncompatibleClassChangeError from older compilers): that, and only that, is
     * a no. Any other exception is the provider's bug and is reported as a {@link ProviderException} naming it.
     */
    public static boolean declares(Provider p, Capability capability, ProviderConfig config) {
        try {
            return p.supports(capability, config);
        } catch (MatchException | IncompatibleClassChangeError e) {
            return false;
        } catch (RuntimeException e) {
            throw new ProviderException("provider '" + p.name() + "' (" + p.getClass().getName() + ") failed to answer"
                    + " supports(" + capability + "): " + e, e);
        }
    }

    /** The validated context a provider's factory receives. Public so runtimes can validate before creating. */
    public static LayerContext context(Provider p, int layer, LayerSpec spec, Map<String, ?> rawConfig,
                                       Map<String, Tensor> rawWeights) {
        String where = "layer " + layer + " provider '" + p.name() + "'";
        List<String> problems = new ArrayList<>();
        ProviderConfig config = null;
        try {
            config = p.configSchema().parse(where, rawConfig);
        } catch (ConfigException e) {
            problems.addAll(e.problems());
        }
        Weights weights = null;
        if (config != null) {
            if (spec.kvHeads() != spec.heads() && !declares(p, Capability.GROUPED_QUERY_HEADS, config)) {
                problems.add("kvHeads is " + spec.kvHeads() + " but '" + p.name()
                        + "' does not support grouped-query heads; valid: kvHeads == heads (" + spec.heads() + ")");
            }
            try {
                weights = Weights.validate(where, p.weights(spec, config), rawWeights);
            } catch (ConfigException e) {
                problems.addAll(e.problems());
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(where, problems);
        }
        return new LayerContext(p.name(), layer, spec, config, weights);
    }
}
