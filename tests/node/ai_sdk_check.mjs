// The Vercel AI SDK (`ai` + `@ai-sdk/openai-compatible`) as a real client of byok-server.
//
// Run by tests/tests/clients.rs: `node ai_sdk_check.mjs BASE_URL API_KEY PLAN`, where PLAN
// is a JSON list of {"provider", "model", "ops"}; ops ("invoke", "stream", "tool",
// "tool_loop": a tool call executed and sent back, "stream_tool": a streamed tool call,
// "structured") run in the order given. Prints one JSON object: provider -> op -> result
// (or {"error": ...}, so that one failing operation does not hide the others).
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { z } from 'zod';

const [base, key, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson);

const tools = {
  get_weather: tool({
    description: 'The current weather in a city.',
    inputSchema: z.object({ location: z.string(), unit: z.enum(['celsius', 'fahrenheit']) }),
  }),
};

// The recorded streamed answers carry `note` or no `unit`: every key optional but `location`.
const looseTools = {
  get_weather: tool({
    description: 'The current weather in a city.',
    inputSchema: z.object({ location: z.string(), unit: z.string().optional(), note: z.string().optional() }),
  }),
};

const weather = z.object({
  city: z.string(),
  temperature_c: z.number().int(),
  conditions: z.array(z.string()),
});

const ops = {
  async invoke(model) {
    const r = await generateText({ model, prompt: 'Hello', maxRetries: 0 });
    return { content: r.text, finish: r.finishReason, input_tokens: r.usage.inputTokens ?? null };
  },
  async stream(model) {
    let failure = null;
    const s = streamText({ model, prompt: 'Hello', maxRetries: 0, onError: ({ error }) => { failure = error; } });
    let content = '';
    let chunks = 0;
    for await (const t of s.textStream) {
      content += t;
      chunks += 1;
    }
    if (failure) throw failure;
    return { content, chunks, finish: await s.finishReason };
  },
  async tool(model) {
    const r = await generateText({ model, prompt: 'What is the weather in Paris?', tools, maxRetries: 0 });
    const call = r.toolCalls[0];
    return {
      name: call.toolName,
      args: call.input,
      calls: r.toolCalls.length,
      id_ok: Boolean(call.toolCallId),
      invalid: Boolean(call.invalid),
      finish: r.finishReason,
    };
  },
  async tool_loop(model) {
    const looping = {
      get_weather: tool({
        ...tools.get_weather,
        execute: async ({ location, unit }) => `18 degrees ${unit} in ${location}`,
      }),
    };
    const r = await generateText({
      model,
      prompt: 'What is the weather in Paris?',
      tools: looping,
      stopWhen: stepCountIs(2),
      maxRetries: 0,
    });
    const first = r.steps[0];
    return {
      content: r.text,
      ids: first.toolCalls.map((c) => c.toolCallId),
      result: first.toolResults[0]?.output ?? null,
      steps: r.steps.length,
      finish: r.finishReason,
    };
  },
  async stream_tool(model) {
    let failure = null;
    const s = streamText({
      model,
      prompt: 'What is the weather in Paris and Tokyo?',
      tools: looseTools,
      maxRetries: 0,
      onError: ({ error }) => { failure = error; },
    });
    await s.consumeStream();
    if (failure) throw failure;
    const calls = await s.toolCalls;
    return {
      calls: calls.map((c) => ({ name: c.toolName, args: c.input })),
      ids: calls.map((c) => c.toolCallId),
      invalid: calls.filter((c) => c.invalid).length,
      finish: await s.finishReason,
    };
  },
  async structured(model) {
    const r = await generateObject({
      model,
      schema: weather,
      schemaName: 'weather',
      prompt: 'Describe the weather in Paris.',
      maxRetries: 0,
    });
    return { object: r.object, finish: r.finishReason };
  },
};

function describe(e) {
  const status = e?.statusCode ? ` (${e.statusCode}: ${e.responseBody})` : '';
  return `${e?.name ?? 'Error'}: ${e?.message ?? e}${status}`;
}

const out = {};
for (const family of plan) {
  const provider = createOpenAICompatible({
    name: 'byok',
    baseURL: `${base}/api/v1`,
    apiKey: key,
    headers: { 'x-byok-provider': family.provider },
    includeUsage: true,
    supportsStructuredOutputs: true,
  });
  const model = provider.chatModel(family.model);
  const results = {};
  for (const op of family.ops) {
    try {
      results[op] = await ops[op](model);
    } catch (e) {
      results[op] = { error: describe(e) };
    }
  }
  out[family.provider] = results;
}
console.log(JSON.stringify(out));
