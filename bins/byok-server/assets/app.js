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

// The summary line of a provider: its `default` key, else how many
// labelled keys it has.
function summary(views) {
  const def = views.find((v) => v.label === "default");
  if (def) return describe(def);
  if (views.length) return `${views.length} labelled key${views.length > 1 ? "s" : ""}, no default`;
  return describe(null);
}

const STATUS_TEXT = { ok: "ok", invalid: "invalid", cooling_down: "cooling down" };

function when(t) {
  return t ? new Date(t).toLocaleString() : "";
}

// One key's path: `/api/byok/credentials/{provider}/{label}` (the label
// `default` when none is given).
function keyPath(provider, label) {
  return `/api/byok/credentials/${encodeURIComponent(provider)}/${encodeURIComponent(label || "default")}`;
}

// One stored key of a provider: label, priority, status, last use and last
// error; set its priority, test or delete it.
function keyItem(provider, view, say, refresh) {
  const li = $("#key-template").content.firstElementChild.cloneNode(true);
  li.dataset.label = view.label;
  $(".key-label", li).textContent = view.label;
  const badge = $(".badge", li);
  badge.textContent = STATUS_TEXT[view.status] || view.status;
  badge.classList.add(`status-${view.status}`);
  $(".key-hint", li).textContent = `${describe(view)} · priority ${view.priority}`;
  const detail = [];
  if (view.status === "cooling_down" && view.cooldown_until) detail.push(`until ${when(view.cooldown_until)}`);
  detail.push(view.last_used_at ? `last used ${when(view.last_used_at)}` : "never used");
  $(".key-detail", li).textContent = detail.join(" · ");
  $(".key-error", li).textContent = view.last_error ? `Last error: ${view.last_error}` : "";
  const prio = $(".key-priority", li);
  prio.value = String(view.priority);
  prio.id = `priority-${provider.id}-${view.label}`;
  $(".key-set-priority", li).addEventListener("click", async () => {
    const priority = Number.parseInt(prio.value, 10);
    if (!Number.isInteger(priority)) { say("The priority is a whole number."); return; }
    try {
      await api("PUT", keyPath(provider.id, view.label), { priority });
      say(`Priority of ${view.label} set to ${priority}.`, true);
      refresh();
    } catch (e) { say(e.message); }
  });
  $(".key-verify", li).addEventListener("click", async () => {
    try {
      const r = await api("POST", `${keyPath(provider.id, view.label)}/verify`);
      say(r.ok ? `The key ${view.label} works.` : `The provider refused ${view.label}: ${r.error}`, r.ok);
      refresh();
    } catch (e) { say(e.message); }
  });
  $(".key-delete", li).addEventListener("click", async () => {
    try {
      await api("DELETE", keyPath(provider.id, view.label));
      say(`Deleted ${view.label}.`, true);
      refresh();
    } catch (e) { say(e.message); }
  });
  return li;
}

// A provider's card. `editable` is false before a gateway key is entered
// (read-only: the provider and its example, no form). Returns the node and
// `render(views)`, which shows the provider's stored keys.
function providerCard(provider, editable, refresh) {
  const node = $("#provider-template").content.firstElementChild.cloneNode(true);
  node.dataset.provider = provider.id;
  $(".name", node).textContent = provider.name;
  const state = $(".state", node);
  const list = $(".keys", node);
  const isJson = provider.format === "json";
  const input = isJson ? $("textarea.secret", node) : $("input.secret", node);
  const other = isJson ? $("input.secret", node) : $("textarea.secret", node);
  other.remove();
  input.hidden = false;
  input.id = `secret-${provider.id}`;
  input.name = provider.id;
  if (isJson) input.placeholder = provider.example;
  else input.placeholder = provider.example || "API key";
  const label = $(".field-label", node);
  label.htmlFor = input.id;
  label.textContent = isJson ? `${provider.name} credential (JSON)` : `${provider.name} API key`;
  const newLabel = $(".new-label", node);
  const newPriority = $(".new-priority", node);
  if (provider.kind === "search") $(".labelled", node).remove();
  const message = $(".message", node);
  const say = (text, ok) => { message.textContent = text; message.classList.toggle("ok", !!ok); };
  $(".editable", node).disabled = !editable;
  const render = (stored) => {
    state.textContent = editable ? summary(stored) : "Enter your gateway key to manage keys.";
    list.replaceChildren(...stored.map((v) => keyItem(provider, v, say, refresh)));
  };

  $(".cred-form", node).addEventListener("submit", async (event) => {
    event.preventDefault();
    const raw = input.value.trim();
    if (!raw) { say("Enter a key first."); return; }
    let key = raw;
    if (isJson) {
      try { key = JSON.parse(raw); } catch { say("This must be a JSON object, like the placeholder."); return; }
    }
    const body = { key };
    const labelValue = newLabel.isConnected ? newLabel.value.trim() : "";
    if (newPriority.isConnected && newPriority.value !== "") body.priority = Number.parseInt(newPriority.value, 10);
    try {
      const view = await api("PUT", keyPath(provider.id, labelValue), body);
      input.value = "";
      newLabel.value = "";
      say(view.label === "default" ? "Saved." : `Saved as ${view.label}.`, true);
      refresh();
    } catch (e) {
      say(e.message);
    }
  });
  $(".verify", node).addEventListener("click", async () => {
    try {
      const r = await api("POST", `/api/byok/credentials/${encodeURIComponent(provider.id)}/verify`);
      say(r.ok ? "The key works." : `The provider refused it: ${r.error}`, r.ok);
      refresh();
    } catch (e) {
      say(e.message);
    }
  });
  $(".delete", node).addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/byok/credentials/${encodeURIComponent(provider.id)}`);
      render([]);
      say("Deleted.", true);
      refresh();
    } catch (e) {
      say(e.message);
    }
  });
  render([]);
  return { node, render };
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

// The key of a usage entry: its provider and the label of the attempt that
// answered (the last one; `default` when the entry lists no attempts).
function seriesOf(entry) {
  const attempts = Array.isArray(entry.attempts) ? entry.attempts : [];
  const answered = attempts.length ? attempts[attempts.length - 1] : null;
  const label = answered && answered.label ? answered.label : "default";
  return `${entry.provider}/${label}`;
}

// Spend (provider cost + markup, USD) and requests per day and key, for
// the last 14 days with usage.
function perDay(entries) {
  const days = new Map();
  const series = new Set();
  for (const e of entries) {
    const day = String(e.created_at).slice(0, 10);
    const s = seriesOf(e);
    series.add(s);
    if (!days.has(day)) days.set(day, new Map());
    const cell = days.get(day).get(s) || { spend: 0, requests: 0 };
    cell.spend += (Number(e.provider_cost_usd) || 0) + (Number(e.markup_usd) || 0);
    cell.requests += 1;
    days.get(day).set(s, cell);
  }
  const order = [...days.keys()].sort().slice(-14);
  return { days: order.map((d) => [d, days.get(d)]), series: [...series].sort() };
}

const PALETTE = ["#0b5fff", "#e36209", "#116329", "#8250df", "#b00020", "#1b7c83", "#9a6700", "#57606a"];

// Stacked bars of `metric` per day, drawn as inline SVG (elements in the
// namespace of the page's own <svg>, so nothing is loaded or inlined).
function drawChart(svg, data, metric, format) {
  const NS = svg.namespaceURI;
  const el = (name, attrs, text) => {
    const n = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const title = svg.querySelector("title");
  svg.replaceChildren(title);
  const W = 560, H = 170, left = 56, top = 22, bottom = 22;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.appendChild(el("text", { x: 0, y: 14, class: "chart-title" }, title.textContent));
  if (!data.days.length) {
    svg.appendChild(el("text", { x: left, y: H / 2, class: "chart-empty" }, "No usage yet."));
    return;
  }
  const totals = data.days.map(([, cells]) => [...cells.values()].reduce((a, c) => a + c[metric], 0));
  const max = Math.max(...totals) || 1;
  const plot = H - top - bottom;
  const step = (W - left) / data.days.length;
  const width = Math.max(4, Math.min(40, step * 0.7));
  svg.appendChild(el("line", { x1: left, y1: top + plot, x2: W, y2: top + plot, class: "axis" }));
  svg.appendChild(el("text", { x: left - 4, y: top + 8, class: "tick end" }, format(max)));
  svg.appendChild(el("text", { x: left - 4, y: top + plot, class: "tick end" }, format(0)));
  data.days.forEach(([day, cells], i) => {
    const x = left + i * step + (step - width) / 2;
    let y = top + plot;
    data.series.forEach((s, k) => {
      const cell = cells.get(s);
      if (!cell || !cell[metric]) return;
      const h = (cell[metric] / max) * plot;
      y -= h;
      const rect = el("rect", { x: x.toFixed(1), y: y.toFixed(1), width: width.toFixed(1), height: Math.max(h, 0.5).toFixed(1), fill: PALETTE[k % PALETTE.length], "data-series": s });
      rect.appendChild(el("title", {}, `${day} ${s}: ${format(cell[metric])}`));
      svg.appendChild(rect);
    });
    svg.appendChild(el("text", { x: (x + width / 2).toFixed(1), y: H - 6, class: "tick middle" }, day.slice(5)));
  });
}

function drawCharts(entries) {
  const data = perDay(entries);
  drawChart($("#spend-chart"), data, "spend", (v) => `$${v < 0.01 && v > 0 ? v.toPrecision(2) : v.toFixed(2)}`);
  drawChart($("#requests-chart"), data, "requests", (v) => String(Math.round(v)));
  const legend = $("#chart-legend");
  legend.replaceChildren(...data.series.map((s, k) => {
    const item = document.createElement("span");
    item.className = `swatch c${k % PALETTE.length}`;
    item.textContent = s;
    return item;
  }));
}

async function loadUsage() {
  try {
    const [balance, usage] = await Promise.all([api("GET", "/api/balance"), api("GET", "/api/usage?limit=500")]);
    $("#balance").textContent = `${balance.balance_usd} USD`;
    drawCharts(usage.data);
    const rows = $("#usage-rows");
    rows.replaceChildren();
    for (const e of usage.data.slice(0, 20)) {
      const tr = document.createElement("tr");
      for (const v of [e.created_at, seriesOf(e), e.model, `${e.prompt_tokens}/${e.completion_tokens}`, e.usage_source, e.markup_usd]) {
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

let cards = [];

// Re-reads the stored keys and shows them on every card (messages stay).
async function refresh() {
  if (!gatewayKey()) return;
  try {
    const stored = await api("GET", "/api/byok/credentials");
    for (const { id, render } of cards) render(stored.data.filter((c) => c.provider === id));
  } catch (e) {
    $("#session-status").textContent = e.message;
  }
  loadUsage();
}

// The providers (public) always; with a gateway key, the user's keys,
// forms and usage.
async function load() {
  const status = $("#session-status");
  const editable = !!gatewayKey();
  let providers;
  try {
    providers = await api("GET", "/api/byok/providers");
  } catch (e) {
    status.textContent = e.message;
    return;
  }
  let stored = { data: [] };
  if (editable) {
    try {
      stored = await api("GET", "/api/byok/credentials");
    } catch (e) {
      status.textContent = e.message;
      return;
    }
  }
  status.textContent = editable ? "Signed in for this browser session." : "Enter your gateway key to manage your credentials.";
  $("#read-only").hidden = editable;
  const chat = $("#chat-providers");
  const search = $("#search-providers");
  chat.replaceChildren();
  search.replaceChildren();
  cards = [];
  for (const p of providers.data) {
    const card = providerCard(p, editable, refresh);
    card.render(stored.data.filter((c) => c.provider === p.id));
    cards.push({ id: p.id, render: card.render });
    (p.kind === "search" ? search : chat).appendChild(card.node);
  }
  $("#example").textContent = example();
  $("#usage-section").hidden = !editable;
  if (editable) loadUsage();
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
