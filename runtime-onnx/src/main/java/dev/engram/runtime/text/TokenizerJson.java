package dev.engram.runtime.text;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.ConfigException;
import dev.engram.spi.Suggestions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads a Hugging Face {@code tokenizer.json} (the tokenizers library's serialisation). Supported, with the
 * Rust library's semantics:
 * <ul>
 *   <li>{@code model}: {@code WordLevel} (vocab, unk_token) and {@code BPE} (vocab, merges as "a b" strings or
 *       [a, b] pairs, unk_token, continuing_subword_prefix, end_of_word_suffix, fuse_unk, byte_fallback,
 *       ignore_merges; dropout null or 0)</li>
 *   <li>{@code added_tokens}: id, content, single_word, lstrip, rstrip, normalized, special</li>
 *   <li>{@code normalizer}: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Sequence</li>
 *   <li>{@code pre_tokenizer}: ByteLevel, Whitespace, WhitespaceSplit, Split, Digits, Punctuation, Sequence</li>
 *   <li>{@code post_processor}: ByteLevel (ids unchanged), TemplateProcessing (single), BertProcessing,
 *       RobertaProcessing, Sequence</li>
 *   <li>{@code decoder}: ByteLevel, ByteFallback, Fuse, Strip, Replace, BPEDecoder, Sequence; none = tokens joined
 *       with spaces</li>
 * </ul>
 * Anything else (another type, an unknown key, a malformed value) is a problem naming the field, e.g.
 * {@code tokenizer.json: 'model.type' is 'Unigram'; supported: WordLevel, BPE}; all problems are reported
 * together. {@code truncation} and {@code padding} are accepted and ignored with a warning: Engram streams
 * inputs of any length and never pads. Regex patterns are compiled as Java regexes in Unicode mode (the
 * Rust library uses Oniguruma; the patterns tokenizers ship, such as GPT-2's, mean the same in both).
 */
public final class TokenizerJson {
    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private static final List<String> TOP = List.of("version", "truncation", "padding", "added_tokens", "normalizer",
            "pre_tokenizer", "post_processor", "decoder", "model");

    private final String file;
    private final List<String> problems;
    private final List<String> warnings;
    /** Every id the post-processor inserts, with the field it came from (kept for the range check against the model). */
    private final Map<String, Integer> postProcessorIds = new LinkedHashMap<>();

    private TokenizerJson(String file, List<String> problems, List<String> warnings) {
        this.file = file;
        this.problems = problems;
        this.warnings = warnings;
    }

    /** Reads {@code file}; throws a {@link ConfigException} listing every problem. */
    public static Tokenizer read(Path file) {
        List<String> problems = new ArrayList<>();
        Tokenizer t = read(file, file.getFileName().toString(), problems, new ArrayList<>());
        if (t == null) {
            throw new ConfigException(file.toString(), problems);
        }
        return t;
    }

    /**
     * Reads {@code file}, adding each problem to {@code problems} (prefixed with {@code name}) and returning null
     * if there were any; ignored settings go to {@code warnings}.
     */
    public static Tokenizer read(Path file, String name, List<String> problems, List<String> warnings) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            problems.add(name + ": cannot be read: " + e);
            return null;
        }
        return parse(text, name, problems, warnings);
    }

    /** Parses the JSON text of a tokenizer.json; {@code name} prefixes the messages. */
    public static Tokenizer parse(String json, String name, List<String> problems, List<String> warnings) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            problems.add(name + ": not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : ""));
            return null;
        }
        if (root == null || !root.isObject()) {
            problems.add(name + ": the top level must be a JSON object");
            return null;
        }
        int before = problems.size();
        Tokenizer t = new TokenizerJson(name, problems, warnings).tokenizer(root);
        return problems.size() > before ? null : t;
    }

    // ---------------------------------------------------------------------------------------------- pipeline

    private Tokenizer tokenizer(JsonNode root) {
        unknown(root, "", TOP);
        for (String ignored : List.of("truncation", "padding")) {
            if (root.has(ignored) && !root.get(ignored).isNull()) {
                warnings.add(file + ": '" + ignored + "' is set and ignored: Engram streams inputs of any length in segments"
                        + " and never truncates or pads");
            }
        }
        HfTokenizer.Model model = model(root.get("model"));
        List<HfTokenizer.AddedToken> added = addedTokens(root.get("added_tokens"));
        UnaryOperator<String> normalizer = isNull(root, "normalizer") ? null : normalizer(root.get("normalizer"), "normalizer");
        HfTokenizer.PreTokenizer pre = isNull(root, "pre_tokenizer") ? null : preTokenizer(root.get("pre_tokenizer"), "pre_tokenizer");
        UnaryOperator<int[]> post = isNull(root, "post_processor") ? null : postProcessor(root.get("post_processor"), "post_processor");
        HfTokenizer.Decoder decoder = isNull(root, "decoder") ? null : decoder(root.get("decoder"), "decoder");
        if (model == null) {
            return null;
        }
        checkAddedAgainstModel(added, model);
        String description = "tokenizer.json: " + model.describe() + ", " + added.size() + " added tokens"
                + ", normalizer " + typeOf(root.get("normalizer")) + ", pre_tokenizer " + typeOf(root.get("pre_tokenizer"))
                + ", post_processor " + typeOf(root.get("post_processor")) + ", decoder " + typeOf(root.get("decoder"));
        return new HfTokenizer(added, normalizer, pre, model, post, postProcessorIds, decoder, description);
    }

    private void checkAddedAgainstModel(List<HfTokenizer.AddedToken> added, HfTokenizer.Model model) {
        for (int i = 0; i < added.size(); i++) {
            HfTokenizer.AddedToken t = added.get(i);
            int inModel = model.id(t.content());
            if (inModel >= 0 && inModel != t.id()) {
                problem("'added_tokens[" + i + "]' is '" + t.content() + "' with id " + t.id() + " but model.vocab gives it id "
                        + inModel + "; valid: the same id");
            }
        }
    }

    private static String typeOf(JsonNode n) {
        return n == null || n.isNull() ? "none" : n.path("type").asText("?");
    }

    private static boolean isNull(JsonNode root, String key) {
        return !root.has(key) || root.get(key).isNull();
    }

    // ---------------------------------------------------------------------------------------------- model

    private HfTokenizer.Model model(JsonNode m) {
        if (m == null || !m.isObject()) {
            problem("'model' is " + (m == null ? "missing" : m.getNodeType().toString().toLowerCase(Locale.ROOT))
                    + "; valid: an object with \"type\": \"WordLevel\" or \"BPE\"");
            return null;
        }
        String type;
        if (m.has("type")) {
            type = text(m, "type", "model.");
            if (type == null) {
                return null;
            }
        } else if (m.has("merges")) {
            type = "BPE"; // older files leave the type out; the fields tell which model it is
        } else if (m.path("vocab").isObject() && keysWithin(m, List.of("vocab", "unk_token"))) {
            type = "WordLevel";
        } else {
            problem("'model.type' is missing and the fields do not tell WordLevel or BPE; valid: \"WordLevel\" or \"BPE\"");
            return null;
        }
        return switch (type) {
            case "WordLevel" -> wordLevel(m);
            case "BPE" -> bpe(m);
            default -> {
                problem("'model.type' is '" + type + "'; supported: WordLevel, BPE");
                yield null;
            }
        };
    }

    private HfTokenizer.Model wordLevel(JsonNode m) {
        unknown(m, "model.", List.of("type", "vocab", "unk_token"));
        Map<String, Integer> vocab = vocab(m.get("vocab"));
        String unk = m.has("unk_token") && !m.get("unk_token").isNull() ? text(m, "unk_token", "model.") : "<unk>";
        return vocab == null ? null : new WordLevelModel(vocab, unk);
    }

    private HfTokenizer.Model bpe(JsonNode m) {
        unknown(m, "model.", List.of("type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges"));
        JsonNode dropout = m.get("dropout");
        if (dropout != null && !dropout.isNull() && !(dropout.isNumber() && dropout.asDouble() == 0)) {
            problem("'model.dropout' is " + dropout + "; supported: null or 0 (BPE dropout is random, for training only)");
        }
        String unk = optionalText(m, "unk_token", "model.");
        String prefix = optionalText(m, "continuing_subword_prefix", "model.");
        String suffix = optionalText(m, "end_of_word_suffix", "model.");
        boolean fuseUnk = bool(m, "fuse_unk", "model.", false);
        boolean byteFallback = bool(m, "byte_fallback", "model.", false);
        boolean ignoreMerges = bool(m, "ignore_merges", "model.", false);
        Map<String, Integer> vocab = vocab(m.get("vocab"));
        if (vocab == null) {
            return null;
        }
        if (unk != null && !vocab.containsKey(unk)) {
            problem("'model.unk_token' is '" + unk + "', which is not in model.vocab");
        }
        Map<Long, BpeModel.Merge> merges = merges(m.get("merges"), vocab, prefix == null ? 0 : prefix.length());
        return merges == null ? null : new BpeModel(vocab, merges, unk, prefix, suffix, fuseUnk, byteFallback, ignoreMerges);
    }

    private Map<String, Integer> vocab(JsonNode v) {
        if (v == null || !v.isObject()) {
            problem("'model.vocab' is " + describe(v) + "; valid: an object of token -> id");
            return null;
        }
        Map<String, Integer> vocab = new LinkedHashMap<>();
        Map<Integer, String> byId = new LinkedHashMap<>();
        int before = problems.size();
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode id = e.getValue();
            if (!id.isIntegralNumber() || id.asLong() < 0 || id.asLong() > Integer.MAX_VALUE - 1) {
                problem("'model.vocab' entry '" + e.getKey() + "' is " + id + "; valid: an integer id >= 0");
                continue;
            }
            String other = byId.putIfAbsent(id.asInt(), e.getKey());
            if (other != null) {
                problem("'model.vocab' gives id " + id.asInt() + " to both '" + other + "' and '" + e.getKey() + "'; valid: one token per id");
            }
            vocab.put(e.getKey(), id.asInt());
        }
        if (vocab.isEmpty() && problems.size() == before) {
            problem("'model.vocab' is empty; valid: at least one token");
        }
        return problems.size() > before ? null : vocab;
    }

    private Map<Long, BpeModel.Merge> merges(JsonNode list, Map<String, Integer> vocab, int prefixLength) {
        if (list == null || !list.isArray()) {
            problem("'model.merges' is " + describe(list) + "; valid: a list of \"left right\" strings or [left, right] pairs");
            return null;
        }
        Map<Long, BpeModel.Merge> merges = new LinkedHashMap<>();
        int before = problems.size();
        for (int rank = 0; rank < list.size(); rank++) {
            JsonNode item = list.get(rank);
            String where = "'model.merges[" + rank + "]'";
            String left;
            String right;
            if (item.isTextual()) {
                String[] parts = item.asText().split(" ", -1);
                if (parts.length != 2) {
                    problem(where + " is " + item + "; valid: two tokens separated by one space");
                    continue;
                }
                left = parts[0];
                right = parts[1];
            } else if (item.isArray() && item.size() == 2 && item.get(0).isTextual() && item.get(1).isTextual()) {
                left = item.get(0).asText();
                right = item.get(1).asText();
            } else {
                problem(where + " is " + item + "; valid: \"left right\" or [\"left\", \"right\"]");
                continue;
            }
            Integer l = vocab.get(left);
            Integer r = vocab.get(right);
            if (l == null || r == null) {
                problem(where + " is " + item + ": '" + (l == null ? left : right) + "' is not in model.vocab");
                continue;
            }
            if (right.length() < prefixLength) {
                problem(where + " is " + item + ": '" + right + "' is shorter than continuing_subword_prefix");
                continue;
            }
            String merged = left + right.substring(prefixLength);
            Integer id = vocab.get(merged);
            if (id == null) {
                problem(where + " is " + item + ": the merged token '" + merged + "' is not in model.vocab");
                continue;
            }
            merges.put(BpeModel.pair(l, r), new BpeModel.Merge(rank, id));
            if (problems.size() - before > 20) {
                problem("'model.merges': more problems not listed");
                break;
            }
        }
        return problems.size() > before ? null : merges;
    }

    // ---------------------------------------------------------------------------------------------- added tokens

    private List<HfTokenizer.AddedToken> addedTokens(JsonNode list) {
        List<HfTokenizer.AddedToken> out = new ArrayList<>();
        if (list == null || list.isNull()) {
            return out;
        }
        if (!list.isArray()) {
            problem("'added_tokens' is " + describe(list) + "; valid: a list of {id, content, ...} objects");
            return out;
        }
        Map<Integer, String> seen = new LinkedHashMap<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode t = list.get(i);
            String p = "added_tokens[" + i + "].";
            if (!t.isObject()) {
                problem("'added_tokens[" + i + "]' is " + describe(t) + "; valid: an object");
                continue;
            }
            unknown(t, p, List.of("id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"));
            JsonNode id = t.get("id");
            if (id == null || !id.isIntegralNumber() || id.asLong() < 0 || id.asLong() > Integer.MAX_VALUE - 1) {
                problem("'" + p + "id' is " + describe(id) + "; valid: an integer >= 0");
                continue;
            }
            String content = text(t, "content", p);
            if (content == null) {
                continue;
            }
            boolean special = bool(t, "special", p, false);
            HfTokenizer.AddedToken token = new HfTokenizer.AddedToken(id.asInt(), content, bool(t, "single_word", p, false),
                    bool(t, "lstrip", p, false), bool(t, "rstrip", p, false), bool(t, "normalized", p, !special), special);
            String other = seen.putIfAbsent(token.id(), content);
            if (other != null && !other.equals(content)) {
                problem("'" + p + "id' is " + token.id() + ", already the id of added token '" + other + "'");
                continue;
            }
            out.add(token);
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------- normalizers

    private UnaryOperator<String> normalizer(JsonNode n, String path) {
        String type = type(n, path);
        if (type == null) {
            return null;
        }
        String p = path + ".";
        return switch (type) {
            case "NFC", "NFD", "NFKC", "NFKD" -> {
                unknown(n, p, List.of("type"));
                Normalizer.Form form = Normalizer.Form.valueOf(type);
                yield s -> Normalizer.normalize(s, form);
            }
            case "Lowercase" -> {
                unknown(n, p, List.of("type"));
                yield TokenizerJson::lowercase;
            }
            case "Strip" -> {
                unknown(n, p, List.of("type", "strip_left", "strip_right"));
                boolean left = bool(n, "strip_left", p, true);
                boolean right = bool(n, "strip_right", p, true);
                yield s -> strip(s, left, right);
            }
            case "StripAccents" -> {
                unknown(n, p, List.of("type"));
                yield s -> s.codePoints().filter(c -> !isMark(Character.getType(c)))
                        .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
            }
            case "Replace" -> {
                unknown(n, p, List.of("type", "pattern", "content"));
                Pattern pattern = pattern(n.get("pattern"), p + "pattern");
                String content = text(n, "content", p, true);
                yield pattern == null || content == null ? null
                        : s -> pattern.matcher(s).replaceAll(Matcher.quoteReplacement(content));
            }
            case "Prepend" -> {
                unknown(n, p, List.of("type", "prepend"));
                String prepend = text(n, "prepend", p, true);
                yield prepend == null ? null : s -> s.isEmpty() ? s : prepend + s;
            }
            case "Sequence" -> {
                List<UnaryOperator<String>> steps = steps(n, p, "normalizers", "normalizers", this::normalizer);
                yield steps == null ? null : s -> {
                    for (UnaryOperator<String> step : steps) {
                        s = step.apply(s);
                    }
                    return s;
                };
            }
            default -> unsupported(path, type, "NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Sequence");
        };
    }

    /** Code point by code point, as Rust's char::to_lowercase (no context-dependent final sigma). */
    static String lowercase(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(c -> {
            if (c == 0x130) {
                sb.append("i\u0307");
            } else {
                sb.appendCodePoint(Character.toLowerCase(c));
            }
        });
        return sb.toString();
    }

    static String strip(String s, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && Chars.isWhitespace(s.codePointAt(start))) {
            start += Character.charCount(s.codePointAt(start));
        }
        while (right && end > start && Chars.isWhitespace(s.codePointBefore(end))) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(start, end);
    }

    // ---------------------------------------------------------------------------------------------- pre-tokenizers

    private HfTokenizer.PreTokenizer preTokenizer(JsonNode n, String path) {
        String type = type(n, path);
        if (type == null) {
            return null;
        }
        String p = path + ".";
        return switch (type) {
            case "ByteLevel" -> {
                unknown(n, p, List.of("type", "add_prefix_space", "trim_offsets", "use_regex"));
                boolean prefixSpace = bool(n, "add_prefix_space", p, true);
                boolean useRegex = bool(n, "use_regex", p, true);
                bool(n, "trim_offsets", p, true); // offsets only
                yield (piece, out) -> {
                    String s = prefixSpace && !piece.startsWith(" ") ? " " + piece : piece;
                    if (useRegex) {
                        List<String> parts = new ArrayList<>();
                        Splits.split(s, ByteLevel.GPT2_SPLIT, Splits.Behavior.ISOLATED, false, parts);
                        parts.forEach(w -> out.add(ByteLevel.encode(w)));
                    } else {
                        out.add(ByteLevel.encode(s));
                    }
                };
            }
            case "Whitespace" -> {
                unknown(n, p, List.of("type"));
                Pattern words = Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS);
                yield (piece, out) -> Splits.split(piece, words, Splits.Behavior.REMOVED, true, out);
            }
            case "WhitespaceSplit" -> {
                unknown(n, p, List.of("type"));
                yield (piece, out) -> Splits.split(piece, Chars::isWhitespace, Splits.Behavior.REMOVED, false, out);
            }
            case "Split" -> {
                unknown(n, p, List.of("type", "pattern", "behavior", "invert"));
                Pattern pattern = pattern(n.get("pattern"), p + "pattern");
                Splits.Behavior behavior = behavior(n, p, null);
                boolean invert = bool(n, "invert", p, false);
                yield pattern == null || behavior == null ? null
                        : (piece, out) -> Splits.split(piece, pattern, behavior, invert, out);
            }
            case "Digits" -> {
                unknown(n, p, List.of("type", "individual_digits"));
                Splits.Behavior b = bool(n, "individual_digits", p, false) ? Splits.Behavior.ISOLATED : Splits.Behavior.CONTIGUOUS;
                yield (piece, out) -> Splits.split(piece, Chars::isNumeric, b, false, out);
            }
            case "Punctuation" -> {
                unknown(n, p, List.of("type", "behavior"));
                Splits.Behavior b = behavior(n, p, Splits.Behavior.ISOLATED);
                yield b == null ? null : (piece, out) -> Splits.split(piece, Chars::isPunctuation, b, false, out);
            }
            case "Sequence" -> {
                List<HfTokenizer.PreTokenizer> steps = steps(n, p, "pretokenizers", "pre-tokenizers", this::preTokenizer);
                yield steps == null ? null : (piece, out) -> {
                    List<String> current = new ArrayList<>(List.of(piece));
                    for (HfTokenizer.PreTokenizer step : steps) {
                        List<String> next = new ArrayList<>();
                        for (String s : current) {
                            step.split(s, next);
                        }
                        next.removeIf(String::isEmpty);
                        current = next;
                    }
                    out.addAll(current);
                };
            }
            default -> unsupported(path, type, "ByteLevel, Whitespace, WhitespaceSplit, Split, Digits, Punctuation, Sequence");
        };
    }

    private Splits.Behavior behavior(JsonNode n, String p, Splits.Behavior dflt) {
        JsonNode b = n.get("behavior");
        if (b == null && dflt != null) {
            return dflt;
        }
        String v = b != null && b.isTextual() ? b.asText() : null;
        if (v != null) {
            switch (v) {
                case "Removed": return Splits.Behavior.REMOVED;
                case "Isolated": return Splits.Behavior.ISOLATED;
                case "MergedWithPrevious": return Splits.Behavior.MERGED_WITH_PREVIOUS;
                case "MergedWithNext": return Splits.Behavior.MERGED_WITH_NEXT;
                case "Contiguous": return Splits.Behavior.CONTIGUOUS;
                default: break;
            }
        }
        problem("'" + p + "behavior' is " + describe(b) + "; valid: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
        return null;
    }

    /** {"String": s} (literal) or {"Regex": r}. */
    private Pattern pattern(JsonNode n, String path) {
        if (n == null || !n.isObject() || n.size() != 1 || !(n.has("String") || n.has("Regex")) || !n.elements().next().isTextual()) {
            problem("'" + path + "' is " + describe(n) + "; valid: {\"String\": text} or {\"Regex\": pattern}");
            return null;
        }
        if (n.has("String")) {
            return Pattern.compile(Pattern.quote(n.get("String").asText()));
        }
        try {
            return Pattern.compile(n.get("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
        } catch (PatternSyntaxException e) {
            problem("'" + path + ".Regex' is not a regex Java can compile: " + e.getDescription() + " near index " + e.getIndex());
            return null;
        }
    }

    // ---------------------------------------------------------------------------------------------- post-processors

    private UnaryOperator<int[]> postProcessor(JsonNode n, String path) {
        String type = type(n, path);
        if (type == null) {
            return null;
        }
        String p = path + ".";
        return switch (type) {
            case "ByteLevel" -> {
                unknown(n, p, List.of("type", "add_prefix_space", "trim_offsets", "use_regex"));
                yield ids -> ids; // adjusts offsets only
            }
            case "TemplateProcessing" -> template(n, p);
            case "BertProcessing", "RobertaProcessing" -> {
                unknown(n, p, type.equals("BertProcessing") ? List.of("type", "sep", "cls")
                        : List.of("type", "sep", "cls", "trim_offsets", "add_prefix_space"));
                Integer cls = tokenPair(n.get("cls"), p + "cls");
                Integer sep = tokenPair(n.get("sep"), p + "sep");
                yield cls == null || sep == null ? null : ids -> {
                    int[] out = new int[ids.length + 2];
                    out[0] = cls;
                    System.arraycopy(ids, 0, out, 1, ids.length);
                    out[ids.length + 1] = sep;
                    return out;
                };
            }
            case "Sequence" -> {
                List<UnaryOperator<int[]>> steps = steps(n, p, "processors", "post-processors", this::postProcessor);
                yield steps == null ? null : ids -> {
                    for (UnaryOperator<int[]> step : steps) {
                        ids = step.apply(ids);
                    }
                    return ids;
                };
            }
            default -> unsupported(path, type, "ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing, Sequence");
        };
    }

    /** ["token", id] */
    private Integer tokenPair(JsonNode n, String path) {
        if (n == null || !n.isArray() || n.size() != 2 || !n.get(0).isTextual() || !n.get(1).isIntegralNumber() || n.get(1).asLong() < 0) {
            problem("'" + path + "' is " + describe(n) + "; valid: [\"token\", id]");
            return null;
        }
        postProcessorIds.put(path, n.get(1).asInt());
        return n.get(1).asInt();
    }

    private UnaryOperator<int[]> template(JsonNode n, String p) {
        unknown(n, p, List.of("type", "single", "pair", "special_tokens"));
        JsonNode specials = n.get("special_tokens");
        Map<String, int[]> special = new LinkedHashMap<>();
        if (specials != null && !specials.isNull()) {
            if (!specials.isObject()) {
                problem("'" + p + "special_tokens' is " + describe(specials) + "; valid: an object name -> {id, ids, tokens}");
                return null;
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = specials.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String sp = p + "special_tokens." + e.getKey() + ".";
                unknown(e.getValue(), sp, List.of("id", "ids", "tokens"));
                JsonNode ids = e.getValue().get("ids");
                if (ids == null || !ids.isArray()) {
                    problem("'" + sp + "ids' is " + describe(ids) + "; valid: a list of token ids");
                    continue;
                }
                int[] arr = new int[ids.size()];
                for (int i = 0; i < arr.length; i++) {
                    if (!ids.get(i).isIntegralNumber() || ids.get(i).asLong() < 0) {
                        problem("'" + sp + "ids[" + i + "]' is " + ids.get(i) + "; valid: a token id >= 0");
                    }
                    arr[i] = ids.get(i).asInt();
                    postProcessorIds.put(sp + "ids[" + i + "]", arr[i]);
                }
                special.put(e.getKey(), arr);
            }
        }
        JsonNode single = n.get("single");
        if (single == null || !single.isArray()) {
            problem("'" + p + "single' is " + describe(single) + "; valid: a list of {\"Sequence\": ...} / {\"SpecialToken\": ...}");
            return null;
        }
        List<int[]> pieces = new ArrayList<>(); // null = the sequence itself
        int before = problems.size();
        for (int i = 0; i < single.size(); i++) {
            JsonNode item = single.get(i);
            String ip = p + "single[" + i + "]";
            if (item.isObject() && item.size() == 1 && item.has("Sequence")) {
                String id = item.get("Sequence").path("id").asText("");
                if (!id.equals("A")) {
                    problem("'" + ip + ".Sequence.id' is '" + id + "'; valid: A (a single sequence)");
                }
                pieces.add(null);
            } else if (item.isObject() && item.size() == 1 && item.has("SpecialToken")) {
                String id = item.get("SpecialToken").path("id").asText("");
                int[] ids = special.get(id);
                if (ids == null) {
                    problem("'" + ip + ".SpecialToken.id' is '" + id + "', which is not in " + p + "special_tokens");
                } else {
                    pieces.add(ids);
                }
            } else {
                problem("'" + ip + "' is " + describe(item) + "; valid: {\"Sequence\": {\"id\": \"A\"}} or {\"SpecialToken\": {\"id\": name}}");
            }
        }
        if (problems.size() > before) {
            return null;
        }
        return ids -> {
            Ids out = new Ids();
            for (int[] piece : pieces) {
                out.addAll(piece == null ? ids : piece);
            }
            return out.toArray();
        };
    }

    // ---------------------------------------------------------------------------------------------- decoders

    private HfTokenizer.Decoder decoder(JsonNode n, String path) {
        String type = type(n, path);
        if (type == null) {
            return null;
        }
        String p = path + ".";
        return switch (type) {
            case "ByteLevel" -> {
                unknown(n, p, List.of("type", "add_prefix_space", "trim_offsets", "use_regex"));
                yield Decoders::byteLevel;
            }
            case "ByteFallback" -> {
                unknown(n, p, List.of("type"));
                yield Decoders::byteFallback;
            }
            case "Fuse" -> {
                unknown(n, p, List.of("type"));
                yield tokens -> List.of(String.join("", tokens));
            }
            case "Strip" -> {
                unknown(n, p, List.of("type", "content", "start", "stop"));
                String content = text(n, "content", p, true);
                int start = nonNegative(n, "start", p);
                int stop = nonNegative(n, "stop", p);
                if (content != null && content.codePointCount(0, content.length()) != 1) {
                    problem("'" + p + "content' is '" + content + "'; valid: one character");
                    yield null;
                }
                yield content == null || start < 0 || stop < 0 ? null : tokens -> Decoders.strip(tokens, content, start, stop);
            }
            case "Replace" -> {
                unknown(n, p, List.of("type", "pattern", "content"));
                Pattern pattern = pattern(n.get("pattern"), p + "pattern");
                String content = text(n, "content", p, true);
                yield pattern == null || content == null ? null : tokens -> tokens.stream()
                        .map(t -> pattern.matcher(t).replaceAll(Matcher.quoteReplacement(content))).toList();
            }
            case "BPEDecoder" -> {
                unknown(n, p, List.of("type", "suffix"));
                String suffix = n.has("suffix") ? text(n, "suffix", p, true) : "</w>";
                yield suffix == null ? null : tokens -> Decoders.bpeSuffix(tokens, suffix);
            }
            case "Sequence" -> {
                List<HfTokenizer.Decoder> steps = steps(n, p, "decoders", "decoders", this::decoder);
                yield steps == null ? null : tokens -> {
                    for (HfTokenizer.Decoder step : steps) {
                        tokens = step.decodeChain(tokens);
                    }
                    return tokens;
                };
            }
            default -> unsupported(path, type, "ByteLevel, ByteFallback, Fuse, Strip, Replace, BPEDecoder, Sequence");
        };
    }

    // ---------------------------------------------------------------------------------------------- field helpers

    private <T> T unsupported(String path, String type, String supported) {
        problem("'" + path + ".type' is '" + type + "'; supported: " + supported);
        return null;
    }

    private String type(JsonNode n, String path) {
        if (n == null || !n.isObject()) {
            problem("'" + path + "' is " + describe(n) + "; valid: an object with a \"type\", or null");
            return null;
        }
        JsonNode t = n.get("type");
        if (t == null || !t.isTextual()) {
            problem("'" + path + ".type' is " + describe(t) + "; valid: a string");
            return null;
        }
        return t.asText();
    }

    /**
     * The steps of a {@code Sequence} (its list field {@code field}, each parsed by {@code parse} at
     * {@code p + field[i]}), or null when the list is missing or any step is refused (the problems are recorded).
     */
    private <T> List<T> steps(JsonNode n, String p, String field, String what, java.util.function.BiFunction<JsonNode, String, T> parse) {
        unknown(n, p, List.of("type", field));
        JsonNode list = n.get(field);
        if (list == null || !list.isArray()) {
            problem("'" + p + field + "' is " + describe(list) + "; valid: a list of " + what);
            return null;
        }
        List<T> steps = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            steps.add(parse.apply(list.get(i), p + field + "[" + i + "]"));
        }
        return steps.contains(null) ? null : steps;
    }

    private void problem(String p) {
        problems.add(file + ": " + p);
    }

    private void unknown(JsonNode node, String prefix, List<String> known) {
        if (node == null || !node.isObject()) {
            return;
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k)) {
                problem("unknown key '" + prefix + k + "'"
                        + Suggestions.suggestion(prefix + k, known.stream().map(c -> prefix + c).toList()) + "; known keys: " + known);
            }
        }
    }

    private static boolean keysWithin(JsonNode node, List<String> keys) {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            if (!keys.contains(it.next())) {
                return false;
            }
        }
        return true;
    }

    private String text(JsonNode parent, String key, String prefix) {
        return text(parent, key, prefix, false);
    }

    private String text(JsonNode parent, String key, String prefix, boolean emptyAllowed) {
        JsonNode n = parent.get(key);
        if (n == null || !n.isTextual() || (!emptyAllowed && n.asText().isEmpty())) {
            problem("'" + prefix + key + "' is " + describe(n) + "; valid: a " + (emptyAllowed ? "" : "non-empty ") + "string");
            return null;
        }
        return n.asText();
    }

    private String optionalText(JsonNode parent, String key, String prefix) {
        JsonNode n = parent.get(key);
        return n == null || n.isNull() ? null : text(parent, key, prefix, true);
    }

    private boolean bool(JsonNode parent, String key, String prefix, boolean dflt) {
        JsonNode n = parent.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isBoolean()) {
            problem("'" + prefix + key + "' is " + n + "; valid: true or false");
            return dflt;
        }
        return n.asBoolean();
    }

    private int nonNegative(JsonNode parent, String key, String prefix) {
        JsonNode n = parent.get(key);
        if (n == null || !n.isIntegralNumber() || n.asLong() < 0 || n.asLong() > Integer.MAX_VALUE) {
            problem("'" + prefix + key + "' is " + describe(n) + "; valid: an integer >= 0");
            return -1;
        }
        return n.asInt();
    }

    private static String describe(JsonNode n) {
        if (n == null) {
            return "missing";
        }
        String s = n.toString();
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    /** Every mark category, as the Rust library's is_combining_mark (Mn, Mc and Me): StripAccents drops them all. */
    private static boolean isMark(int type) {
        return type == Character.NON_SPACING_MARK || type == Character.COMBINING_SPACING_MARK || type == Character.ENCLOSING_MARK;
    }
}
