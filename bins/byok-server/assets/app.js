// The BYOK settings page. Uses only the public HTTP API with the user's
// gateway key, kept in sessionStorage until "Forget". Secrets typed into a
// field are sent once and the field is cleared after a successful save;
// nothing secret is ever written into the page afterwards (only the
// server's `last4` hint and non-secret metadata are shown).
"use strict";

const KEY_STORAGE = "byok.gatewayKey";
const $ = (sel, root = document) => root.querySelector(sel);

function gatewayKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${gatewayKey()}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (!res.ok) {
    const message = (data && data.error && data.error.message) || `HTTP ${res.status}`;
    throw new Error(message);
  }
  return data;
}

function describe(view) {
  if (!view) return "Not set";
  const meta = Object.entries(view.meta || {})
    .filter(([, v]) => v !== false && v !== null && v !== "")
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
  const hint = view.last4 ? `••••${view.last4}` : "•••• (saved)";
  return meta ? `${hint} (${meta})` : hint;
}

function providerCard(provider, stored, reload) {
  const node = $("#provider-template").content.firstElementChild.cloneNode(true);
  node.dataset.provider = provider.id;
  $(".name", node).textContent = provider.name;
  const state = $(".state", node);
  state.textContent = describe(stored);
  const isJson = provider.format === "json";
  const input = isJson ? $("textarea", node) : $("input", node);
  const other = isJson ? $("input", node) : $("textarea", node);
  other.remove();
  input.hidden = false;
  input.id = `secret-${provider.id}`;
  input.name = provider.id;
  if (isJson) input.placeholder = provider.example;
  else input.placeholder = provider.example || "API key";
  const label = $(".field-label", node);
  label.htmlFor = input.id;
  label.textContent = isJson ? `${provider.name} credential (JSON)` : `${provider.name} API key`;
  const message = $(".message", node);
  const say = (text, ok) => { message.textContent = text; message.classList.toggle("ok", !!ok); };

  $(".cred-form", node).addEventListener("submit", async (event) => {
    event.preventDefault();
    const raw = input.value.trim();
    if (!raw) { say("Enter a key first."); return; }
    let key = raw;
    if (isJson) {
      try { key = JSON.parse(raw); } catch { say("This must be a JSON object, like the placeholder."); return; }
    }
    try {
      const view = await api("PUT", `/api/byok/credentials/${encodeURIComponent(provider.id)}`, { key });
      input.value = "";
      state.textContent = describe(view);
      say("Saved.", true);
      reload();
    } catch (e) {
      say(e.message);
    }
  });
  $(".verify", node).addEventListener("click", async () => {
    try {
      const r = await api("POST", `/api/byok/credentials/${encodeURIComponent(provider.id)}/verify`);
      say(r.ok ? "The key works." : `The provider refused it: ${r.error}`, r.ok);
    } catch (e) {
      say(e.message);
    }
  });
  $(".delete", node).addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/byok/credentials/${encodeURIComponent(provider.id)}`);
      state.textContent = describe(null);
      say("Deleted.", true);
      reload();
    } catch (e) {
      say(e.message);
    }
  });
  return node;
}

function example() {
  const origin = window.location.origin;
  return [
    `curl ${origin}/api/v1/chat/completions \\`,
    `  -H "Authorization: Bearer $BYOK_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -H "x-byok-provider: openai" \\`,
    `  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'`,
    ``,
    `# OpenAI SDKs, LangChain, Vercel AI SDK: base URL ${origin}/api/v1, api key $BYOK_KEY`,
    `# Claude Code / Anthropic SDKs (/api/v1/messages):`,
    `export ANTHROPIC_BASE_URL=${origin}/api ANTHROPIC_AUTH_TOKEN=$BYOK_KEY`,
    `# Codex (/api/v1/responses), in ~/.codex/config.toml:`,
    `#   [model_providers.byok]`,
    `#   name = "byok"`,
    `#   base_url = "${origin}/api/v1"`,
    `#   env_key = "BYOK_KEY"`,
    `#   wire_api = "responses"`,
  ].join("\n");
}

async function loadUsage() {
  try {
    const [balance, usage] = await Promise.all([api("GET", "/api/balance"), api("GET", "/api/usage?limit=20")]);
    $("#balance").textContent = `${balance.balance_usd} USD`;
    const rows = $("#usage-rows");
    rows.replaceChildren();
    for (const e of usage.data) {
      const tr = document.createElement("tr");
      for (const v of [e.created_at, e.provider, e.model, `${e.prompt_tokens}/${e.completion_tokens}`, e.usage_source, e.markup_usd]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      rows.appendChild(tr);
    }
  } catch (e) {
    $("#balance").textContent = e.message;
  }
}

async function load() {
  const status = $("#session-status");
  if (!gatewayKey()) {
    status.textContent = "Enter your gateway key to manage your credentials.";
    for (const id of ["providers-section", "search-section", "example-section", "usage-section"]) $(`#${id}`).hidden = true;
    return;
  }
  let providers, stored;
  try {
    [providers, stored] = await Promise.all([api("GET", "/api/byok/providers"), api("GET", "/api/byok/credentials")]);
  } catch (e) {
    status.textContent = e.message;
    return;
  }
  status.textContent = "Signed in for this browser session.";
  const byId = Object.fromEntries(stored.data.map((c) => [c.provider, c]));
  const chat = $("#chat-providers");
  const search = $("#search-providers");
  chat.replaceChildren();
  search.replaceChildren();
  for (const p of providers.data) {
    const card = providerCard(p, byId[p.id], loadUsage);
    (p.kind === "search" ? search : chat).appendChild(card);
  }
  $("#example").textContent = example();
  for (const id of ["providers-section", "search-section", "example-section", "usage-section"]) $(`#${id}`).hidden = false;
  loadUsage();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = $("#gateway-key");
    const value = field.value.trim();
    if (!value) return;
    sessionStorage.setItem(KEY_STORAGE, value);
    field.value = "";
    load();
  });
  $("#forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    load();
  });
  load();
});
