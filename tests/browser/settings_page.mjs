// Browser end-to-end test of the settings page: Debian's chromium driven by
// playwright-core (no browser download). Run by tests/tests/browser.rs:
//   node settings_page.mjs BASE_URL GATEWAY_KEY SCREENSHOT_PATH
import { chromium } from "playwright-core";

const [base, gatewayKey, screenshot] = process.argv.slice(2);
const OPENAI = "sk-browser-CANARY-Zq8vN3xR5tL1pW7m";
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
  for (const secret of [OPENAI, AWS_SECRET]) {
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
