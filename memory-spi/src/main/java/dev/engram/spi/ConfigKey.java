package dev.engram.spi;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One typed configuration key: its name, its default, the check its value must pass and a plain
 * description of the valid values. Values arrive as YAML/JSON scalars and lists, or as strings from
 * system properties and environment variables; both are parsed here.
 */
public final class ConfigKey<T> {
    private final String name;
    private final Class<?> type;
    private final T defaultValue;
    private final Function<Object, T> parser;
    private final Predicate<T> check;
    private final String valid;
    private final String description;
    /** The allowed words of an enum key, for "did you mean"; empty for other keys. */
    private final List<String> choices;

    private ConfigKey(String name, Class<?> type, T defaultValue, Function<Object, T> parser, Predicate<T> check,
                      String valid, String description) {
        this(name, type, defaultValue, parser, check, valid, description, List.of());
    }

    private ConfigKey(String name, Class<?> type, T defaultValue, Function<Object, T> parser, Predicate<T> check,
                      String valid, String description, List<String> choices) {
        this.choices = List.copyOf(choices);
        this.name = Objects.requireNonNull(name, "name is null");
        this.type = type;
        this.defaultValue = defaultValue;
        this.parser = parser;
        this.check = check;
        this.valid = valid;
        this.description = description;
    }

    public static ConfigKey<Integer> ofInt(String name, int defaultValue, String description) {
        return new ConfigKey<>(name, Integer.class, defaultValue, ConfigKey::parseInt, v -> true, "an integer", description);
    }

    public static ConfigKey<Long> ofLong(String name, long defaultValue, String description) {
        return new ConfigKey<>(name, Long.class, defaultValue, ConfigKey::parseLong, v -> true, "an integer", description);
    }

    public static ConfigKey<Double> ofDouble(String name, double defaultValue, String description) {
        return new ConfigKey<>(name, Double.class, defaultValue, ConfigKey::parseDouble, v -> Double.isFinite(v),
                "a finite number", description);
    }

    public static ConfigKey<Boolean> ofBoolean(String name, boolean defaultValue, String description) {
        return new ConfigKey<>(name, Boolean.class, defaultValue, ConfigKey::parseBoolean, v -> true, "true or false",
                description);
    }

    /** An enum key; values are written in lower case in configuration ({@code update: delta}). */
    public static <E extends Enum<E>> ConfigKey<E> ofEnum(String name, Class<E> type, E defaultValue, String description) {
        List<String> names = new ArrayList<>();
        for (E e : type.getEnumConstants()) {
            names.add(e.name().toLowerCase(Locale.ROOT));
        }
        String valid = "one of " + names;
        return new ConfigKey<>(name, type, defaultValue, raw -> {
            String s = String.valueOf(raw).trim();
            for (E e : type.getEnumConstants()) {
                if (e.name().equalsIgnoreCase(s)) {
                    return e;
                }
            }
            throw new IllegalArgumentException("'" + s + "' is not " + valid);
        }, v -> true, valid, description, names);
    }

    /**
     * A key of a provider's own value type: {@code parser} turns the raw scalar or list (or a string from a
     * property) into the value and throws IllegalArgumentException when it cannot; {@code valid} describes
     * every accepted value, for messages ("a number in (0, 1) or 'uniform'").
     */
    public static <T> ConfigKey<T> of(String name, Class<T> type, T defaultValue, Function<Object, T> parser, String valid,
                                      String description) {
        return new ConfigKey<>(name, type, defaultValue, parser, v -> true, valid, description);
    }

    /** A list of numbers, written as a YAML/JSON list or as "0.005,0.01". */
    public static ConfigKey<List<Double>> ofDoubleList(String name, List<Double> defaultValue, String description) {
        return new ConfigKey<>(name, List.class, List.copyOf(defaultValue), ConfigKey::parseDoubleList,
                v -> !v.isEmpty() && v.stream().allMatch(Double::isFinite), "a non-empty list of finite numbers", description);
    }

    /** This key with an added check; {@code valid} describes what passes, for instance "> 0" or "[1, 64]". */
    public ConfigKey<T> check(Predicate<T> extra, String valid) {
        Predicate<T> base = check;
        return new ConfigKey<>(name, type, defaultValue, parser, v -> base.test(v) && extra.test(v), valid, description, choices);
    }

    public String name() {
        return name;
    }

    public T defaultValue() {
        return defaultValue;
    }

    /** What a valid value looks like, for messages and documentation. */
    public String valid() {
        return valid;
    }

    public String description() {
        return description;
    }

    Class<?> type() {
        return type;
    }

    /** Parses and checks {@code raw}; throws IllegalArgumentException with a message naming the value and the valid range. */
    T parse(Object raw) {
        T value;
        try {
            value = parser.apply(raw);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + name + "' is " + render(raw) + "; valid: " + valid
                    + (choices.isEmpty() ? "" : Suggestions.suggestion(String.valueOf(raw).trim(), choices)), e);
        }
        if (!check.test(value)) {
            throw new IllegalArgumentException("'" + name + "' is " + render(raw) + "; valid: " + valid);
        }
        return value;
    }

    private static String render(Object raw) {
        return raw instanceof String s ? "'" + s + "'" : String.valueOf(raw);
    }

    private static Integer parseInt(Object raw) {
        long v = parseLong(raw);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("out of int range");
        }
        return (int) v;
    }

    private static Long parseLong(Object raw) {
        if (raw instanceof Integer || raw instanceof Long || raw instanceof Short || raw instanceof Byte) {
            return ((Number) raw).longValue();
        }
        if (raw instanceof Number n) {
            double d = n.doubleValue();
            if (d == Math.rint(d) && Math.abs(d) < 9.0e15) {
                return (long) d;
            }
            throw new IllegalArgumentException("not an integer");
        }
        if (raw instanceof String s) {
            return Long.parseLong(s.trim().replace("_", ""));
        }
        throw new IllegalArgumentException("not an integer");
    }

    private static Double parseDouble(Object raw) {
        if (raw instanceof Number n) {
            return n.doubleValue();
        }
        if (raw instanceof String s) {
            return Double.parseDouble(s.trim());
        }
        throw new IllegalArgumentException("not a number");
    }

    private static Boolean parseBoolean(Object raw) {
        if (raw instanceof Boolean b) {
            return b;
        }
        if (raw instanceof String s) {
            String t = s.trim().toLowerCase(Locale.ROOT);
            if (t.equals("true") || t.equals("false")) {
                return Boolean.parseBoolean(t);
            }
        }
        throw new IllegalArgumentException("not a boolean");
    }

    private static List<Double> parseDoubleList(Object raw) {
        List<Double> out = new ArrayList<>();
        if (raw instanceof List<?> list) {
            for (Object o : list) {
                out.add(parseDouble(o));
            }
        } else if (raw instanceof String s) {
            String t = s.trim();
            if (t.startsWith("[") && t.endsWith("]")) {
                t = t.substring(1, t.length() - 1);
            }
            for (String part : t.split(",")) {
                if (!part.isBlank()) {
                    out.add(Double.parseDouble(part.trim()));
                }
            }
        } else if (raw instanceof Number n) {
            out.add(n.doubleValue());
        } else {
            throw new IllegalArgumentException("not a list of numbers");
        }
        return List.copyOf(out);
    }

    @Override
    public String toString() {
        return name + " (default " + defaultValue + "; valid: " + valid + ")";
    }
}
