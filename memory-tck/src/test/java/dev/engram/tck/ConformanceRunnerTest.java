package dev.engram.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.CaseResult;
import dev.engram.conformance.ConformanceCase;
import dev.engram.conformance.ConformanceRunner;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

class ConformanceRunnerTest {
    private final ConformanceRunner runner =
            new ConformanceRunner(ProviderRegistry.of(List.of(new SummaryMemory(SummaryMemory.Flaw.NONE))));
    private final String good = read("good-cases/hand-summary.json");

    private static String read(String resource) {
        try (InputStream in = ConformanceRunnerTest.class.getClassLoader().getResourceAsStream(resource)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private CaseResult check(UnaryOperator<String> edit) {
        return runner.check(ConformanceCase.parse("case.json", edit.apply(good)));
    }

    private CaseResult checkText(String json) {
        try {
            return runner.check(ConformanceCase.parse("case.json", json));
        } catch (RuntimeException e) {
            return new CaseResult("case.json", false, 0, 0, 0, List.of(), e.getMessage());
        }
    }

    @Test
    void theHandWorkedCasePasses() {
        CaseResult r = check(s -> s);
        assertTrue(r.passed(), r.summaryLine() + r.failures());
        assertEquals(4 + 4 + 2 + 2, r.comparedValues());
        assertTrue(r.summaryLine().startsWith("PASS  case.json"), r.summaryLine());
    }

    @Test
    void aWrongExpectedValueFailsAndSaysWhere() {
        CaseResult r = check(s -> s.replace("\"data\": [3, 4]", "\"data\": [3, 4.01]"));
        assertFalse(r.passed());
        assertNull(r.error());
        assertEquals(List.of("expected[1].output[flat 1]: expected 4.01, got 4.0"), r.failures());
    }

    @Test
    void malformedCasesAreErrorsNamingTheField() {
        assertEquals("case.json: segments[1].v.data has 2 values; shape [1, 1, 3] needs 3",
                checkText(good.replace("\"v\": {\"shape\": [1, 1, 2]", "\"v\": {\"shape\": [1, 1, 3]")).error());
        String unknown = checkText(good.replace("\"provider\": \"summary\"", "\"provider\": \"sumary\"")).error();
        assertTrue(unknown.startsWith("no memory provider named 'sumary'; available: [summary]; did you mean 'summary'?"), unknown);
        assertEquals("layer 0 provider 'summary': unknown key 'scal'; did you mean 'scale'?; known keys: [scale]",
                checkText(good.replace("\"scale\": 1.0", "\"scal\": 1.0")).error());
        assertEquals("layer 0 provider 'summary': 2 problems\n  - weight 'gate' is missing; expected shape [1]\n"
                + "  - weight 'gates' is not used by this provider; did you mean 'gate'?; known weights: [gate]",
                checkText(good.replace("\"gate\"", "\"gates\"")).error());
        assertEquals("case.json: format is 'engram-conformance/2'; valid: 'engram-conformance/1'",
                checkText(good.replace("engram-conformance/1", "engram-conformance/2")).error());
        assertEquals("case.json: expected must be an array with one entry per segment (2)",
                checkText(good.replace("\"expected\": [", "\"expected\": [{},")).error());
        assertTrue(checkText("{ not json").error().startsWith("case.json: not valid JSON"));
        assertEquals("case.json: segments[0].x is not a segment input; valid: [q, k, v, h, local, uniforms]",
                checkText(good.replace("{\"q\": {\"shape\": [1, 2, 2]", "{\"x\": {\"shape\": [1], \"data\": [0]}, \"q\": {\"shape\": [1, 2, 2]")).error());
    }

    @Test
    void unknownFieldsAreRefusedWithTheClosestKnownOne() {
        assertEquals("case.json: unknown field 'tolerence'; did you mean 'tolerance'?; valid fields: [format, kind, provider,"
                + " description, layer, config, weights, segments, expected, tolerance]",
                checkText(good.replace("\"tolerance\"", "\"tolerence\"")).error());
        assertEquals("case.json: unknown field 'weight'; did you mean 'weights'?; valid fields: [format, kind, provider,"
                + " description, layer, config, weights, segments, expected, tolerance]",
                checkText(good.replace("\"weights\"", "\"weight\"")).error());
        assertEquals("case.json: unknown field 'fromat'; did you mean 'format'?; valid fields: [format, kind, provider,"
                + " description, layer, config, weights, segments, expected, tolerance]",
                checkText(good.replace("\"format\"", "\"fromat\"")).error());
        assertEquals("case.json: unknown field 'notes'; valid fields: [format, kind, provider,"
                + " description, layer, config, weights, segments, expected, tolerance]",
                checkText(good.replace("\"description\"", "\"notes\"")).error());
    }

    @Test
    void unknownToleranceFieldsAreRefusedWithTheClosestKnownOne() {
        assertTrue(good.contains("\"tolerance\": {\"abs\": "), "fixture changed");
        assertEquals("case.json: unknown field 'tolerance.ab'; did you mean 'tolerance.abs'?; valid fields: [abs, rel]",
                checkText(good.replace("\"tolerance\": {\"abs\": ", "\"tolerance\": {\"ab\": ")).error());
        assertEquals("case.json: tolerance is 0.001; valid: an object {\"abs\": x, \"rel\": y}",
                checkText(good.replaceFirst("\"tolerance\": \\{[^}]*\\}", "\"tolerance\": 0.001")).error());
    }

    @Test
    void aDescriptionIsAStringOrAnArrayOfStrings() {
        assertTrue(check(s -> s.replaceFirst("\"description\": \"[^\"]*\"", "\"description\": [\"line one\", \"line two\"]")).passed());
        assertTrue(check(s -> s.replaceFirst("\"description\": \"[^\"]*\",", "")).passed(), "description is optional");
        assertEquals("case.json: description is 42; valid: a string or an array of strings",
                checkText(good.replaceFirst("\"description\": \"[^\"]*\"", "\"description\": 42")).error());
    }

    @Test
    void aMissingLocalOutputIsNamed() {
        CaseResult r = checkText(good.replace(", \"local\": {\"shape\": [1, 1, 2], \"data\": [2, 2]}", ""));
        assertEquals("case.json: segments[1].local is missing; provider 'summary' combines its readout with the local "
                + "attention output [H, N, dv]", r.error());
    }

    @Test
    void emitReplacesExpectedWithWhatTheProviderProduced() {
        String emitted = runner.emit(ConformanceCase.parse("case.json", good.replace("\"data\": [3, 4]", "\"data\": [0, 0]")));
        CaseResult again = runner.check(ConformanceCase.parse("emitted.json", emitted));
        assertTrue(again.passed(), again.failures().toString());
        assertTrue(emitted.contains("\"description\""), "the rest of the document is kept");
    }
}
