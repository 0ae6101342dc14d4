// Control Center dashboard: the LLM gateway. Upstreams with health and latency,
// usage per day, model and service as bars, the interaction log with search and
// a detail view, a playground that streams, the cache, and keys (admins).
// Every value from the daemon and the models is put in the page as text.
"use strict";
(function () {
  const { h, $, api, toast, time, can, pages } = window.ctrl;
  const enc = encodeURIComponent;
  const num = (n, d) => (n === null || n === undefined ? "-" : Number(n).toFixed(d));

  // POST to one of the gateway's OpenAI routes (its errors have OpenAI's shape).
  async function openai(path, body) {
    const res = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": window.ctrl.S.me ? window.ctrl.S.me.csrf_token || "" : "" },
      body: JSON.stringify(body),
    });
    return res;
  }
  async function failure(res) {
    try { const v = await res.json(); return (v.error && v.error.message) || `HTTP ${res.status}`; } catch (e) { return `HTTP ${res.status}`; }
  }

  // Bars: one row per group, its width the share of the largest.
  function bars(id, rows, label, value, text) {
    const max = Math.max(0, ...rows.map(value));
    return h("div", { class: "bars", id },
      rows.length ? rows.map((r) => h("div", { class: "bar-row" },
        h("span", { class: "bar-label", title: label(r) }, label(r)),
        h("span", { class: "bar-track" }, h("span", { class: "bar-fill", style: `width:${max ? (100 * value(r) / max).toFixed(1) : 0}%` })),
        h("span", { class: "bar-value" }, text(r)))) : h("p", { class: "muted" }, "No calls yet."));
  }
  const usageText = (r) => `${r.calls} calls · ${r.prompt_tokens + r.completion_tokens} tokens · ${num(r.cost, 4)}${r.estimated ? ` · ${r.estimated} estimated` : ""}`;

  function detail(id) {
    const main = $("#main");
    const back = h("a", { href: "#/llm" }, "LLM");
    main.replaceChildren(h("h1", {}, back, ` / call ${id}`));
    api("GET", `/api/llm/interactions/${enc(id)}`).then((i) => {
      const pre = (v) => h("pre", { class: "json" }, v === null || v === undefined ? "(not kept: log_interactions = false)" : JSON.stringify(v, null, 2));
      main.replaceChildren(h("h1", {}, back, ` / call ${i.id}`),
        h("div", { class: "card" }, h("dl", { class: "kv", id: "llm-detail" }, [
          ["When", time(i.at)], ["Route", i.endpoint], ["Model", i.model], ["Service", i.service],
          ["Upstream", i.upstream || "-"], ["Status", i.status], ["Streamed", i.stream ? "yes" : "no"],
          ["Took", `${num(i.processing_ms, 1)} ms (first byte ${num(i.ttfb_ms, 1)} ms)`],
          ["Tokens", `${i.prompt_tokens} + ${i.completion_tokens}${i.estimated ? " (estimated)" : ""}`],
          ["Cost", num(i.cost, 6)], ["Cached", i.cached ? "yes" : "no"], ["Error", i.error || "-"],
        ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]))),
        h("h2", {}, "Attempts"),
        h("table", { id: "llm-attempts" }, h("tr", {}, ["upstream", "status", "ms", "error"].map((x) => h("th", {}, x))),
          i.attempts.map((a) => h("tr", {}, h("td", {}, a.upstream), h("td", {}, a.status === null ? "-" : a.status), h("td", {}, num(a.ms, 1)), h("td", {}, a.error || "")))),
        h("h2", {}, "Request"), pre(i.request), h("h2", {}, "Answer"), pre(i.response));
    }).catch((e) => main.replaceChildren(h("h1", {}, back), h("p", { class: "muted" }, e.message)));
    return {};
  }

  function playground() {
    const model = h("input", { type: "text", id: "llm-model", list: "llm-models", placeholder: "model", "aria-label": "Model" });
    const models = h("datalist", { id: "llm-models" });
    const prompt = h("textarea", { id: "llm-prompt", rows: "3", placeholder: "Ask something", "aria-label": "Prompt" });
    const send = h("button", { type: "submit", id: "llm-send" }, "Send");
    const stop = h("button", { type: "button", id: "llm-stop", disabled: true }, "Stop");
    const thinking = h("pre", { id: "llm-thinking", class: "thinking", hidden: true });
    const out = h("pre", { id: "llm-output", class: "output" });
    const state = h("p", { id: "llm-play-state", class: "muted" });
    let abort = null, reader = null;
    fetch("/v1/models", { credentials: "same-origin" }).then((r) => r.json()).then((v) => {
      const ids = (v.data || []).map((m) => m.id);
      models.replaceChildren(...ids.map((id) => h("option", { value: id })));
      if (!model.value && ids.length) model.value = ids[0];
    }).catch(() => {});
    stop.addEventListener("click", () => { if (abort) abort.abort(); });
    const form = h("form", { id: "llm-play", class: "card" }, h("h3", {}, "Playground"),
      h("div", { class: "toolbar" }, model, models, send, stop), prompt, thinking, out, state);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      out.textContent = ""; thinking.textContent = ""; thinking.hidden = true;
      state.textContent = "…";
      send.disabled = true; stop.disabled = false;
      abort = new AbortController();
      const t0 = performance.now();
      try {
        const res = await fetch("/v1/chat/completions", {
          method: "POST", credentials: "same-origin", signal: abort.signal,
          headers: { "Content-Type": "application/json", "X-CSRF-Token": window.ctrl.S.me ? window.ctrl.S.me.csrf_token || "" : "" },
          body: JSON.stringify({ model: model.value.trim(), stream: true, stream_options: { include_usage: true },
            messages: [{ role: "user", content: prompt.value }] }),
        });
        if (!res.ok) throw new Error(await failure(res));
        reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = "", done = false, usage = null, first = null;
        for (;;) {
          const { value, done: end } = await reader.read();
          if (end) break;
          // Events end with a blank line, whatever the line endings (\r\n from some servers).
          // A lone \r at the end may be half of a \r\n: it waits for the next piece.
          buf = (buf + dec.decode(value, { stream: true })).replace(/\r\n/g, "\n").replace(/\r(?=[\s\S])/g, "\n");
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const event = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
            if (!data) continue;
            if (data === "[DONE]") { done = true; continue; }
            const v = JSON.parse(data);
            if (v.error) throw new Error(v.error.message || "the stream broke");
            if (first === null) first = performance.now() - t0;
            const d = v.choices && v.choices[0] && v.choices[0].delta;
            if (d && d.content) out.append(d.content);
            if (d && (d.reasoning_content || d.reasoning)) { thinking.hidden = false; thinking.append(d.reasoning_content || d.reasoning); }
            if (v.usage) usage = v.usage;
          }
        }
        state.textContent = (done ? "done" : "ended without [DONE]") +
          ` · first chunk ${num(first, 0)} ms · ${num(performance.now() - t0, 0)} ms` +
          (usage ? ` · ${usage.prompt_tokens} + ${usage.completion_tokens} tokens` : "") +
          (res.headers.get("x-ctrl-cache") === "hit" ? " · from the cache" : "");
      } catch (e) {
        state.textContent = e.name === "AbortError" ? "stopped" : `error: ${e.message}`;
      } finally {
        if (reader) reader.cancel().catch(() => {});
        reader = null;
        send.disabled = false; stop.disabled = true; abort = null;
      }
    });
    form.stop = () => { if (abort) abort.abort(); };
    return form;
  }

  function keysCard() {
    const list = h("div", { id: "llm-keys" });
    const name = h("input", { type: "text", id: "llm-key-name", placeholder: "name", size: "12", "aria-label": "Key name" });
    const budget = h("input", { type: "number", id: "llm-key-budget", placeholder: "budget", min: "0", step: "any", "aria-label": "Budget" });
    const period = h("select", { id: "llm-key-period", "aria-label": "Period" }, h("option", { value: "day" }, "per day"), h("option", { value: "month" }, "per month"));
    const models = h("input", { type: "text", id: "llm-key-models", placeholder: "models (e.g. deepseek*)", "aria-label": "Models" });
    const shown = h("p", { id: "llm-key-new", class: "secret", hidden: true });
    const load = async () => {
      try {
        const keys = await api("GET", "/api/llm/keys");
        list.replaceChildren(keys.length ? h("table", {}, h("tr", {}, ["id", "name", "key", "models", "budget", "spent", ""].map((x) => h("th", {}, x))),
          keys.map((k) => h("tr", {}, h("td", {}, k.id), h("td", {}, k.name), h("td", {}, `${k.prefix}…`), h("td", {}, k.models.join(", ")),
            h("td", {}, k.budget === null ? "-" : `${k.budget}/${k.period}`), h("td", {}, num(k.spent, 4)),
            h("td", {}, k.revoked_at ? "revoked" : h("button", { type: "button", class: "danger", onclick: async () => {
              try { await api("DELETE", `/api/llm/keys/${k.id}`); load(); } catch (e) { toast(e.message, true); }
            } }, "Revoke"))))) : h("p", { class: "muted" }, "No keys."));
      } catch (e) { list.replaceChildren(h("p", { class: "muted" }, e.message)); }
    };
    const form = h("form", { class: "toolbar" }, name, budget, period, models, h("button", { type: "submit", id: "llm-key-create" }, "Create key"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const made = await api("POST", "/api/llm/keys", { name: name.value.trim(), budget: budget.value === "" ? null : Number(budget.value),
          period: period.value, models: models.value.split(",").map((m) => m.trim()).filter(Boolean) });
        shown.hidden = false;
        shown.textContent = `${made.key} (shown once: keep it now)`;
        name.value = ""; load();
      } catch (e) { toast(e.message, true); }
    });
    load();
    return h("section", { class: "card" }, h("h3", {}, "Keys"), form, shown, list);
  }

  pages.llm = (arg) => {
    if (arg) return detail(arg);
    const upstreams = h("div", { id: "llm-upstreams" });
    const usage = h("div", { class: "grid", id: "llm-usage" });
    const log = h("div", { id: "llm-log" });
    const q = h("input", { type: "search", id: "llm-q", placeholder: "Search prompts, answers, errors", "aria-label": "Search the log" });
    const test = h("button", { type: "button", id: "llm-test" }, "Test upstreams");
    const clear = can("operator") ? h("button", { type: "button", id: "llm-clear" }, "Clear cache") : null;
    const testState = h("span", { id: "llm-test-state", class: "muted" });
    const play = can("operator") ? playground() : null;
    $("#main").replaceChildren(h("h1", {}, "LLM"),
      h("section", { class: "card" }, h("h3", {}, "Upstreams"), h("div", { class: "toolbar" }, can("operator") ? test : null, clear, testState), upstreams),
      h("h2", {}, "Usage (30 days)"), usage,
      play,
      h("h2", {}, "Calls"), h("div", { class: "toolbar" }, q), log,
      can("admin") ? keysCard() : null);

    const showUpstreams = async () => {
      try {
        const list = await api("GET", "/api/llm/upstreams");
        upstreams.replaceChildren(h("table", {}, h("tr", {}, ["", "name", "url", "models", "latency", "calls", "failures", "last error"].map((x) => h("th", {}, x))),
          list.map((u) => h("tr", { class: u.healthy ? "" : "unhealthy" },
            h("td", {}, h("span", { class: `dot ${u.healthy ? "ok" : "bad"}`, title: u.healthy ? "healthy" : "failing or resting" }, "●")),
            h("td", {}, u.name), h("td", {}, u.url), h("td", {}, u.models.join(", ")),
            h("td", {}, u.latency_ms === null ? "-" : `${num(u.latency_ms, 1)} ms`), h("td", {}, u.calls), h("td", {}, u.failures),
            h("td", {}, u.last_error || "")))));
      } catch (e) { upstreams.replaceChildren(h("p", { class: "muted" }, e.message)); }
    };
    const showUsage = async () => {
      try {
        const [days, models, services] = await Promise.all(["day", "model", "service"].map((g) => api("GET", `/api/llm/usage?group_by=${g}`)));
        const weight = (r) => r.cost > 0 ? r.cost : r.prompt_tokens + r.completion_tokens;
        usage.replaceChildren(
          h("div", { class: "card" }, h("h3", {}, "Per day"), bars("llm-by-day", days, (r) => r.date, weight, usageText)),
          h("div", { class: "card" }, h("h3", {}, "Per model"), bars("llm-by-model", models, (r) => r.model, weight, usageText)),
          h("div", { class: "card" }, h("h3", {}, "Per key or caller"), bars("llm-by-service", services, (r) => r.service, weight, usageText)));
      } catch (e) { usage.replaceChildren(h("p", { class: "muted" }, e.message)); }
    };
    let seq = 0, timer;
    const showLog = async () => {
      if (!can("operator")) { log.replaceChildren(h("p", { class: "muted" }, "The call log holds prompts: operators and admins see it.")); return; }
      const mine = ++seq;
      try {
        const params = new URLSearchParams({ limit: "100" });
        if (q.value.trim()) params.set("q", q.value.trim());
        const rows = await api("GET", `/api/llm/interactions?${params}`);
        if (mine !== seq) return;
        log.replaceChildren(rows.length ? h("div", { class: "table-wrap" }, h("table", { id: "llm-log-table" },
          h("tr", {}, ["id", "at", "service", "model", "upstream", "status", "took", "tokens", "cost", ""].map((x) => h("th", {}, x))),
          rows.map((i) => h("tr", { class: i.error ? "failed" : "" },
            h("td", {}, h("a", { href: `#/llm/${i.id}` }, String(i.id))), h("td", {}, time(i.at)), h("td", {}, i.service),
            h("td", {}, i.model), h("td", {}, i.upstream || "-"), h("td", {}, i.status), h("td", {}, `${num(i.processing_ms, 0)} ms`),
            h("td", {}, `${i.prompt_tokens}+${i.completion_tokens}${i.estimated ? "~" : ""}`), h("td", {}, num(i.cost, 4)),
            h("td", {}, i.cached ? "cached" : (i.error || "")))))) : h("p", { class: "muted" }, "No calls."));
      } catch (e) { if (mine === seq) log.replaceChildren(h("p", { class: "muted" }, e.message)); }
    };
    q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(showLog, 150); });
    test.addEventListener("click", async () => {
      test.disabled = true;
      testState.textContent = "testing…";
      try {
        const res = await openai("/test", {});
        if (!res.ok) throw new Error(await failure(res));
        const v = await res.json();
        testState.textContent = v.upstreams.map((u) => `${u.name}: ${u.ok ? `ok in ${num(u.latency_ms, 0)} ms` : u.error}`).join(" · ");
      } catch (e) { testState.textContent = e.message; }
      test.disabled = false;
      showUpstreams();
    });
    if (clear) clear.addEventListener("click", async () => {
      try { const c = await api("POST", "/api/llm/cache/clear"); testState.textContent = `dropped ${c.entries} cached answers`; } catch (e) { toast(e.message, true); }
    });
    showUpstreams(); showUsage(); showLog();
    const every = setInterval(() => { showUpstreams(); showUsage(); showLog(); }, 5000);
    // Leaving the page stops a playground answer still streaming (the model stops too).
    return { close: () => { clearInterval(every); clearTimeout(timer); if (play) play.stop(); } };
  };
})();
