package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Chat templates of tokenizer_config.json rendered by Jinjava; every expected prompt is written out by hand. */
class ChatTemplateTest {
    @TempDir
    Path dir;

    static final List<Map<String, String>> MESSAGES = List.of(Map.of("role", "system", "content", "Be brief."),
            Map.of("role", "user", "content", "Hi!"));

    private ChatTemplate read(String json) throws IOException {
        Path f = dir.resolve("tokenizer_config.json");
        Files.writeString(f, json);
        return ChatTemplate.read(f).orElseThrow();
    }

    @Test
    void chatMlTemplateWithConcatenationAndGenerationPrompt() throws IOException {
        // Qwen2 / ChatML, as transformers renders it
        ChatTemplate t = read("""
                {"eos_token": "<|im_end|>", "chat_template": "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\\\n' + message['content'] + '<|im_end|>' + '\\\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\\\n' }}{% endif %}"}
                """);
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
                t.render(MESSAGES));
    }

    @Test
    void llamaStyleTemplateWithBosTokenObjectTrimBlocksAndRaiseException() throws IOException {
        // bos_token as an AddedToken object; block tags on their own lines leave no whitespace (trim/lstrip blocks)
        ChatTemplate t = read("""
                {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                 "chat_template": "{{ bos_token }}\\n{% for message in messages %}\\n    {% if message['role'] == 'system' %}\\n{{ raise_exception('System role not supported') }}\\n    {% elif message['role'] == 'user' %}\\n{{ '[INST] ' + message['content'] + ' [/INST]' }}\\n    {% else %}\\n{{ message['content'] + eos_token }}\\n    {% endif %}\\n{% endfor %}"}
                """);
        assertEquals("<s>\n[INST] Hi! [/INST]\n", t.render(List.of(Map.of("role", "user", "content", "Hi!"))));
        assertEquals("<s>", t.bosToken());
        ApiError refused = assertThrows(ApiError.class, () -> t.render(MESSAGES));
        assertTrue(refused.getMessage().contains("System role not supported"), refused.getMessage());
    }

    @Test
    void noTemplateIsEmptyAndABadOneNamesTheField() throws IOException {
        Path f = dir.resolve("tokenizer_config.json");
        Files.writeString(f, "{\"eos_token\": \"</s>\"}");
        assertTrue(ChatTemplate.read(f).isEmpty());
        Files.writeString(f, "{\"chat_template\": 3}");
        ConfigException e = assertThrows(ConfigException.class, () -> ChatTemplate.read(f));
        assertTrue(e.getMessage().contains("'chat_template' is 3"), e.getMessage());
        ChatTemplate named = read("{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, "
                + "{\"name\": \"default\", \"template\": \"{{ messages[0]['content'] }}!\"}]}");
        assertEquals("Be brief.!", named.render(MESSAGES));
    }
}
