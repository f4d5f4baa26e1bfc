// Calls Vibe Coder's OpenAI-compatible API with the official openai package, the way a
// third-party client would, and prints what it got as one JSON object on stdout.
//
//   OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=vc_... node test/npm/chat.mjs
//
// Optional: CHAT_MODEL (default openai/gpt-4o-mini), CHAT_PROMPT. Any failure exits non-zero
// with the error on stderr. internal/httpapi/npm_test.go runs it against a real server.
import OpenAI from "openai";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

async function main() {
  const client = new OpenAI({
    baseURL: need("OPENAI_BASE_URL"),
    apiKey: need("OPENAI_API_KEY"),
    maxRetries: 0, // a failure must show, not be retried away
    timeout: 30_000,
  });
  const model = process.env.CHAT_MODEL || "openai/gpt-4o-mini";
  const prompt = process.env.CHAT_PROMPT || "Say hello from the npm client.";
  const messages = [{ role: "user", content: prompt }];

  const completion = await client.chat.completions.create({ model, messages });
  const choice = completion.choices[0];
  if (!choice) throw new Error(`no choices in ${JSON.stringify(completion)}`);

  // A different prompt, so the stream is answered upstream rather than from the cache.
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: prompt + " (streamed)" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const deltas = [];
  let streamFinish = null;
  let streamUsage = null;
  let streamRole = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.object !== "chat.completion.chunk") throw new Error(`chunk object ${chunk.object}`);
    if (chunk.usage) streamUsage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.role) streamRole = c.delta.role;
      if (c.delta?.content) deltas.push(c.delta.content);
      if (c.finish_reason) streamFinish = c.finish_reason;
    }
  }

  const summary = {
    normal: {
      id: completion.id,
      object: completion.object,
      model: completion.model,
      text: choice.message.content,
      role: choice.message.role,
      finish_reason: choice.finish_reason,
      usage: completion.usage ?? null,
    },
    stream: {
      text: deltas.join(""),
      deltas,
      chunks,
      role: streamRole,
      finish_reason: streamFinish,
      usage: streamUsage,
    },
  };
  process.stdout.write(JSON.stringify(summary) + "\n");
}

main().catch((err) => {
  const status = err?.status ? ` (HTTP ${err.status})` : "";
  process.stderr.write(`chat.mjs failed${status}: ${err?.stack || err}\n`);
  process.exit(1);
});
