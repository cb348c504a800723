// Browser end-to-end test of the settings page: Debian's chromium driven by
// playwright-core (no browser download). Run by tests/tests/browser.rs:
//   node settings_page.mjs BASE_URL GATEWAY_KEY SCREENSHOT_PATH
import { chromium } from "playwright-core";

const [base, gatewayKey, screenshot] = process.argv.slice(2);
const OPENAI = "sk-browser-CANARY-Zq8vN3xR5tL1pW7m";
const OPENAI_WORK = "sk-browser-WORK-Hc4kT9bY2sQ6vJ1n";
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYBROWSERKEY";
const fail = (msg) => { throw new Error(msg); };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
  const external = [];
  const errors = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("422")) errors.push(m.text()); });

  const response = await page.goto(`${base}/`);
  const headers = response.headers();
  if (!headers["content-security-policy"]?.includes("script-src 'self'")) fail("no strict CSP");
  if (headers["x-content-type-options"] !== "nosniff") fail("no nosniff");
  if (headers["x-frame-options"] !== "DENY") fail("no frame denial");
  if (!headers["referrer-policy"]) fail("no referrer policy");

  // Before a gateway key: the providers and the example, read-only.
  await page.waitForSelector('[data-provider="openai"]');
  if (!(await page.isVisible('[data-provider="tavily"]'))) fail("read-only: search providers missing");
  if (!(await page.isDisabled("#secret-openai"))) fail("read-only: the key field is editable");
  if (!(await page.isVisible("#read-only"))) fail("read-only: no note");
  if (await page.isVisible("#usage-section")) fail("read-only: usage shown without a key");
  if (!(await page.textContent("#example")).includes(`${base}/api/v1/chat/completions`)) fail("read-only: no example");

  // Usage for the chart (two days, two keys of one provider): served by the
  // page's own route, since the mock upstream answers no chat here.
  const entry = (day, label, cost) => ({
    request_id: `req_${day}_${label}`, created_at: `2026-11-${day}T10:00:00.000Z`, provider: "openai", model: "gpt-4o-mini",
    endpoint: "chat", prompt_tokens: 10, completion_tokens: 5, cached_tokens: 0, usage_source: "reported",
    provider_cost_usd: cost, markup_usd: "0.0001", price_source: "catalog",
    attempts: [{ provider: "openai", label, status: 200 }],
  });
  const usage = { data: [entry("29", "work", "0.0020"), entry("29", "default", "0.0010"), entry("28", "default", "0.0030"), { ...entry("28", "x", "0.001"), attempts: undefined }] };
  await page.route((url) => url.pathname === "/api/usage", (route) => route.fulfill({ json: usage }));

  // Enter the gateway key once (kept in sessionStorage).
  await page.fill("#gateway-key", gatewayKey);
  await page.click("#key-form button[type=submit]");
  await page.waitForSelector('[data-provider="openai"]');
  if (!(await page.isVisible('[data-provider="tavily"]'))) fail("search providers missing");

  // Save an OpenAI key.
  const openai = '[data-provider="openai"]';
  await page.fill("#secret-openai", OPENAI);
  await page.click(`${openai} .save`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .state`).textContent.startsWith("••••"), openai);
  if ((await page.textContent(`${openai} .state`)) !== "••••pW7m") fail("openai state");
  if ((await page.inputValue("#secret-openai")) !== "") fail("the key field was not cleared");

  // A second OpenAI key, labelled, with a priority.
  const work = `${openai} li[data-label="work"]`;
  await page.fill("#secret-openai", OPENAI_WORK);
  await page.fill(`${openai} .new-label`, "work");
  await page.fill(`${openai} .new-priority`, "2");
  await page.click(`${openai} .save`);
  await page.waitForSelector(work);
  if ((await page.textContent(`${openai} .message`)) !== "Saved as work.") fail("labelled save message");
  if (!(await page.textContent(`${work} .key-hint`)).includes("priority 2")) fail("work priority");
  if ((await page.textContent(`${work} .badge`)) !== "ok") fail("work status");
  if ((await page.textContent(`${openai} .state`)) !== "••••pW7m") fail("the default key stays the summary");
  const labels = () => page.$$eval(`${openai} li.key`, (items) => items.map((i) => i.dataset.label).join(","));
  if ((await labels()) !== "default,work") fail(`order: ${await labels()}`);
  // Its priority changes without sending the key again: it goes first.
  await page.fill(`${work} .key-priority`, "-1");
  await page.click(`${work} .key-set-priority`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} li.key`)?.dataset.label === "work", openai);
  if (!(await page.textContent(`${work} .key-hint`)).includes("priority -1")) fail("work priority -1");
  // Tested on its own.
  await page.click(`${work} .key-verify`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .message`).textContent.includes("works"), openai);
  if ((await page.textContent(`${openai} .message`)) !== "The key work works.") fail("work verify");

  // Save an AWS JSON credential.
  const aws = '[data-provider="aws"]';
  await page.fill("#secret-aws", JSON.stringify({ accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: AWS_SECRET, region: "eu-west-1" }));
  await page.click(`${aws} .save`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .state`).textContent.startsWith("••••"), aws);
  const awsState = await page.textContent(`${aws} .state`);
  if (!awsState.startsWith("••••RKEY") || !awsState.includes("region: eu-west-1")) fail(`aws state: ${awsState}`);

  // A validation message from the API shows next to the field.
  await page.fill("#secret-groq", "bad key with spaces");
  await page.click('[data-provider="groq"] .save');
  await page.waitForFunction(() => document.querySelector('[data-provider="groq"] .message').textContent.length > 0);
  const groqMsg = await page.textContent('[data-provider="groq"] .message');
  if (!groqMsg.includes("whitespace")) fail(`groq message: ${groqMsg}`);

  // Reload: still signed in, still stored.
  await page.reload();
  await page.waitForSelector(openai);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .state`).textContent.startsWith("••••"), openai);
  if ((await page.textContent(`${openai} .state`)) !== "••••pW7m") fail("state lost on reload");

  // Verify against the mock upstream.
  await page.click(`${openai} .verify`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .message`).textContent.length > 0, openai);
  const verify = await page.textContent(`${openai} .message`);
  if (verify !== "The key works.") fail(`verify: ${verify}`);

  // Status and last error as the API reports them (an invalid and a
  // cooling-down key, served by the page's own route).
  const listed = await page.evaluate(async (k) => (await fetch("/api/byok/credentials", { headers: { Authorization: `Bearer ${k}` } })).json(), gatewayKey);
  const bad = listed.data.map((c) => c.label === "work"
    ? { ...c, status: "invalid", last_error: "openai returned 401: Incorrect API key provided: [redacted]" }
    : c.provider === "openai" ? { ...c, status: "cooling_down", cooldown_until: "2026-11-30T12:00:00.000Z", last_error: "openai returned 429: slow down" } : c);
  const credentialsList = (url) => url.pathname === "/api/byok/credentials";
  await page.route(credentialsList, (route) =>
    route.request().method() === "GET" ? route.fulfill({ json: { data: bad } }) : route.fallback());
  await page.reload();
  await page.waitForSelector(`${work} .badge.status-invalid`);
  if (!(await page.textContent(`${work} .key-error`)).includes("401: Incorrect API key provided")) fail("work last error");
  const cooling = `${openai} li[data-label="default"]`;
  if ((await page.textContent(`${cooling} .badge`)) !== "cooling down") fail("cooling badge");
  if (!(await page.textContent(`${cooling} .key-detail`)).startsWith("until ")) fail("cooling until");
  await page.unroute(credentialsList);
  await page.reload();
  await page.waitForSelector(`${work} .badge.status-ok`);

  // The usage chart: spend and requests per day, by provider and key.
  await page.waitForSelector("#spend-chart rect");
  const bars = await page.$$eval("#spend-chart rect", (r) => r.map((b) => b.dataset.series).sort().join(","));
  if (bars !== "openai/default,openai/default,openai/work") fail(`spend bars: ${bars}`);
  if ((await page.$$("#requests-chart rect")).length !== 3) fail("request bars");
  const legend = await page.textContent("#chart-legend");
  if (!legend.includes("openai/work") || !legend.includes("openai/default")) fail(`legend: ${legend}`);
  if ((await page.textContent("#usage-rows")).indexOf("openai/work") < 0) fail("usage rows name the key");

  // Delete the labelled key alone.
  await page.click(`${work} .key-delete`);
  await page.waitForFunction((sel) => !document.querySelector(sel), work);
  if ((await page.textContent(`${openai} .state`)) !== "••••pW7m") fail("default kept");

  // Delete the AWS credential.
  await page.click(`${aws} .delete`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .state`).textContent === "Not set", aws);

  // The example and the FAQ are there.
  const example = await page.textContent("#example");
  if (!example.includes(`${base}/api/v1/chat/completions`) || !example.includes("x-byok-provider")) fail("example");
  if (!example.includes(`ANTHROPIC_BASE_URL=${base}/api`) || !example.includes(`wire_api = "responses"`)) fail("example: Claude Code and Codex");
  if (!(await page.textContent("#faq")).includes("5% markup")) fail("faq");

  // Nothing secret anywhere in the DOM or in storage.
  const dom = await page.content();
  const storage = await page.evaluate(() => JSON.stringify({ s: { ...sessionStorage }, l: { ...localStorage } }));
  for (const secret of [OPENAI, OPENAI_WORK, AWS_SECRET]) {
    for (let i = 0; i + 8 <= secret.length; i++) {
      const piece = secret.slice(i, i + 8);
      if (dom.includes(piece) || storage.includes(piece)) fail(`secret fragment ${piece} is in the page`);
    }
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  // The gateway key is in sessionStorage until "Forget".
  await page.click("#forget");
  if (await page.evaluate(() => sessionStorage.length) !== 0) fail("forget did not clear the session");

  if (external.length) fail(`requests outside the server: ${external.join(", ")}`);
  if (errors.length) fail(`page errors: ${errors.join(" | ")}`);
  console.log(JSON.stringify({ ok: true, screenshot }));
} finally {
  await browser.close();
}
