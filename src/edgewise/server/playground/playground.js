// edgewise playground: plain JavaScript, no build step. Talks to the same server's
// OpenAI-compatible chat endpoint (streamed) and its task endpoints.
"use strict";

const $ = (id) => document.getElementById(id);
const history = [];
let controller = null;

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("apikey").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

async function errorText(resp) {
  try {
    const body = await resp.json();
    const err = body.error;
    return typeof err === "string" ? err : (err && err.message) || resp.statusText;
  } catch (e) {
    return resp.status + " " + resp.statusText;
  }
}

function setBusy(busy) {
  document.body.dataset.busy = busy ? "1" : "0";
  for (const id of ["chat-send", "classify-send", "extract-send"]) $(id).disabled = busy;
  $("chat-stop").disabled = !busy;
}

async function loadModels() {
  const select = $("model");
  try {
    const health = await (await fetch("/health")).json();
    const resp = await fetch("/v1/models", { headers: headers() });
    if (!resp.ok) throw new Error(await errorText(resp));
    const list = (await resp.json()).data.map((m) => m.id);
    select.textContent = "";
    for (const id of list) {
      const opt = document.createElement("option");
      opt.value = opt.textContent = id;
      if (id === health.default_model) opt.selected = true;
      select.appendChild(opt);
    }
    showError("");
  } catch (e) {
    showError("Could not list models: " + e.message);
  }
}

function selectTab(name) {
  for (const btn of document.querySelectorAll("nav button")) {
    const on = btn.dataset.tab === name;
    btn.setAttribute("aria-selected", on ? "true" : "false");
    $("panel-" + btn.dataset.tab).hidden = !on;
  }
  $("stats").textContent = "";
  showError("");
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  $("chat-log").appendChild(div);
  return div;
}

async function sendChat(event) {
  event.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text) return;
  showError("");
  history.push({ role: "user", content: text });
  addMessage("user", text);
  $("chat-input").value = "";
  const out = addMessage("assistant", "");
  const messages = [];
  const system = $("chat-system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...history);
  const body = {
    model: $("model").value,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: Number($("chat-max").value) || 128,
    temperature: Number($("chat-temp").value),
  };
  controller = new AbortController();
  setBusy(true);
  const t0 = performance.now();
  let tFirst = null;
  let usage = null;
  let reply = "";
  try {
    const resp = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal,
    });
    if (!resp.ok) throw new Error(await errorText(resp));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!frame.startsWith("data: ")) continue;
        const data = frame.slice(6);
        if (data === "[DONE]") continue;
        const event = JSON.parse(data);
        if (event.error) throw new Error(event.error.message);
        if (event.usage) usage = event.usage;
        for (const choice of event.choices || []) {
          const piece = (choice.delta && choice.delta.content) || "";
          if (piece && tFirst === null) tFirst = performance.now();
          reply += piece;
          out.textContent = reply;
        }
      }
    }
    history.push({ role: "assistant", content: reply });
    const t1 = performance.now();
    const n = usage ? usage.completion_tokens : 0;
    const decodeS = tFirst !== null ? (t1 - tFirst) / 1000 : 0;
    const rate = n > 1 && decodeS > 0 ? ((n - 1) / decodeS).toFixed(1) : "–";
    $("stats").textContent =
      `latency ${Math.round(t1 - t0)} ms · first token ${tFirst === null ? "–" : Math.round(tFirst - t0)} ms · ` +
      `${n} tokens · ${rate} tokens/s` +
      (usage && usage.prompt_tokens_details ? ` · ${usage.prompt_tokens_details.cached_tokens} prompt tokens reused` : "");
  } catch (e) {
    if (e.name === "AbortError") {
      history.push({ role: "assistant", content: reply });
      $("stats").textContent = "stopped";
    } else {
      history.pop();
      out.remove();
      showError(e.message);
    }
  } finally {
    controller = null;
    setBusy(false);
  }
}

async function post(path, body) {
  const t0 = performance.now();
  const resp = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (!resp.ok) throw new Error(await errorText(resp));
  const data = await resp.json();
  return { data, ms: performance.now() - t0 };
}

async function sendClassify(event) {
  event.preventDefault();
  showError("");
  const labels = $("classify-labels").value.split(",").map((s) => s.trim()).filter(Boolean);
  const result = $("classify-result");
  result.textContent = "";
  setBusy(true);
  try {
    const { data, ms } = await post("/v1/classify", {
      model: $("model").value, text: $("classify-input").value, labels,
    });
    const r = data.results[0];
    const head = document.createElement("p");
    head.id = "classify-label";
    head.textContent = `${r.label}${r.abstained ? " (unsure)" : ""} · confidence ${r.confidence.toFixed(2)}`;
    result.appendChild(head);
    for (const [name, p] of Object.entries(r.scores).sort((a, b) => b[1] - a[1])) {
      const bar = document.createElement("div");
      bar.className = "bar";
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = Math.round(p * 300) + "px";
      const value = document.createElement("span");
      value.textContent = p.toFixed(3);
      bar.append(label, fill, value);
      result.appendChild(bar);
    }
    const perS = (1000 / r.ms).toFixed(1);
    $("stats").textContent = `latency ${Math.round(ms)} ms · model ${Math.round(r.ms)} ms · ${r.input_tokens} tokens read · ${perS} items/s`;
  } catch (e) {
    showError(e.message);
  } finally {
    setBusy(false);
  }
}

async function sendExtract(event) {
  event.preventDefault();
  showError("");
  let schema;
  try {
    schema = JSON.parse($("extract-schema").value);
  } catch (e) {
    showError("The schema is not valid JSON: " + e.message);
    return;
  }
  $("extract-result").textContent = "";
  setBusy(true);
  try {
    const { data, ms } = await post("/v1/extract", {
      model: $("model").value, text: $("extract-input").value, schema,
    });
    const r = data.results[0];
    if (r.error) throw new Error(r.error);
    $("extract-result").textContent = JSON.stringify(r.value, null, 2);
    const chars = r.raw ? r.raw.length : 0;
    $("stats").textContent = `latency ${Math.round(ms)} ms · model ${Math.round(r.ms)} ms · ${r.attempts} attempt(s) · ${chars} characters of JSON`;
  } catch (e) {
    showError(e.message);
  } finally {
    setBusy(false);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const btn of document.querySelectorAll("nav button")) {
    btn.addEventListener("click", () => selectTab(btn.dataset.tab));
  }
  $("apikey").value = localStorage.getItem("edgewise-api-key") || "";
  $("apikey").addEventListener("change", () => {
    localStorage.setItem("edgewise-api-key", $("apikey").value.trim());
    loadModels();
  });
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("chat-stop").addEventListener("click", () => controller && controller.abort());
  $("chat-clear").addEventListener("click", () => { history.length = 0; $("chat-log").textContent = ""; $("stats").textContent = ""; });
  $("classify-form").addEventListener("submit", sendClassify);
  $("extract-form").addEventListener("submit", sendExtract);
  setBusy(false);
  loadModels();
});
