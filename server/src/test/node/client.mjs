// The official openai npm client, unmodified, against engram serve. Run by OpenAiClientTest:
//   node client.mjs BASE_URL MODEL [API_KEY]
// Prints one JSON object with what the client returned; the Java test checks it against raw HTTP.
import OpenAI from "openai";

const [baseURL, model, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL: baseURL + "/v1", apiKey: apiKey ?? "unused", maxRetries: 0, timeout: 30_000 });
const prompt = "Engram remembers";
const out = {};

const models = await client.models.list();
out.models = models.data.map((m) => m.id);

const completion = await client.completions.create({ model, prompt, max_tokens: 6, temperature: 0 });
out.completion = { text: completion.choices[0].text, finish_reason: completion.choices[0].finish_reason,
  object: completion.object, usage: completion.usage };

let streamed = "";
let streamedFinish = null;
const stream = await client.completions.create({ model, prompt, max_tokens: 6, temperature: 0, stream: true });
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.text ?? "";
  streamedFinish = chunk.choices[0]?.finish_reason ?? streamedFinish;
}
out.streamed = { text: streamed, finish_reason: streamedFinish };

const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "What do you remember?" }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 5, temperature: 0 });
out.chat = { role: chat.choices[0].message.role, content: chat.choices[0].message.content, object: chat.object };

let chatStreamed = "";
const chatStream = await client.chat.completions.create({ model, messages, max_tokens: 5, temperature: 0, stream: true });
for await (const chunk of chatStream) {
  chatStreamed += chunk.choices[0]?.delta?.content ?? "";
}
out.chatStreamed = chatStreamed;

// scoring a text the way evaluation harnesses do: echo the prompt with its log-probabilities, generate nothing
const scored = await client.completions.create({ model, prompt, max_tokens: 0, echo: true, logprobs: 2 });
out.scored = { text: scored.choices[0].text, token_logprobs: scored.choices[0].logprobs.token_logprobs,
  top_logprobs: scored.choices[0].logprobs.top_logprobs };
const chatScored = await client.chat.completions.create({ model, messages, max_tokens: 3, temperature: 0, logprobs: true,
  top_logprobs: 2 });
out.chatLogprobs = chatScored.choices[0].logprobs.content.map((t) => ({ token: t.token, logprob: t.logprob,
  top: t.top_logprobs.length }));
// the same, streamed: each chunk carries its tokens' log-probabilities
const chatScoredStream = await client.chat.completions.create({ model, messages, max_tokens: 3, temperature: 0,
  logprobs: true, top_logprobs: 2, stream: true });
out.chatLogprobsStreamed = [];
for await (const chunk of chatScoredStream) {
  for (const t of chunk.choices[0]?.logprobs?.content ?? []) {
    out.chatLogprobsStreamed.push({ token: t.token, logprob: t.logprob, top: t.top_logprobs.length });
  }
}

try {
  await client.completions.create({ model, prompt, max_tokens: -3 });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, param: e.param ?? e.error?.param ?? null, type: e.type ?? e.error?.type ?? null,
    isApiError: e instanceof OpenAI.APIError };
}

console.log(JSON.stringify(out));
