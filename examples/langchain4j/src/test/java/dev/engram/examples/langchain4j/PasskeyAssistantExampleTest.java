package dev.engram.examples.langchain4j;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The example as a user runs it, on one state directory: the second run answers from the saved conversation. */
class PasskeyAssistantExampleTest {
    @TempDir
    Path tmp;

    static String run(String... args) {
        PrintStream out = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            PasskeyAssistantExample.main(args);
        } finally {
            System.setOut(out);
        }
        return captured.toString(StandardCharsets.UTF_8);
    }

    @Test
    void theSecondRunRemembersThePasskey() {
        String model = Path.of("../../models/passkey-infini").toString();
        String first = run(model, tmp.toString());
        assertTrue(first.contains("told alice a passkey") && first.contains(": 613 tokens") && !first.contains("4 2 7 1 9"), first);
        String second = run(model, tmp.toString());
        assertTrue(second.contains("read back") && second.contains("alice's passkey: 4 2 7 1 9"), second);
        assertTrue(run(model, tmp.toString()).contains("told alice a passkey"), "the third run starts over");
    }
}
