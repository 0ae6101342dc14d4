// Control Center dashboard: the knowledge base. Search as you type with
// highlighted snippets, filters, agents and creators, a file view that renders
// markdown into DOM nodes (never HTML strings), and a scan with live progress.
"use strict";
(function () {
  const { h, $, api, toast, time, bytes, can, live, pages } = window.ctrl;
  const enc = encodeURIComponent;
  const FINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

  // A snippet with its [start, end) character ranges wrapped in <mark>, as text nodes.
  function marked(snippet, ranges) {
    const chars = Array.from(snippet); // code points: the ranges count characters, not UTF-16 units
    const out = [];
    let at = 0;
    for (const [s, e] of [...ranges].sort((a, b) => a[0] - b[0])) {
      if (s < at || e > chars.length || s >= e) continue;
      out.push(chars.slice(at, s).join(""), h("mark", {}, chars.slice(s, e).join("")));
      at = e;
    }
    out.push(chars.slice(at).join(""));
    return out;
  }

  // ---- markdown, safely: blocks and inline marks become elements; text stays text ----
  function inline(text) {
    // Very long lines are shown as they are: the patterns below stay linear in practice.
    if (text.length > 4000) return [text];
    const out = [];
    // Emphasis only between word boundaries: snake_case and __dunder__ stay as written.
    const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|((?<!\w)\*(?!\s)[^*]+?\*(?!\w)|(?<!\w)_(?![\s_])[^_]+?_(?!\w))|\[([^\]]+)\]\(([^)\s]+)[^)]*\)|\[\[([^\]]+)\]\]/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      out.push(text.slice(last, m.index));
      if (m[1]) out.push(h("code", {}, m[1].slice(1, -1)));
      else if (m[2]) out.push(h("strong", {}, m[2].slice(2, -2)));
      else if (m[3]) out.push(h("em", {}, m[3].slice(1, -1)));
      else if (m[4]) {
        // Only web links are links; anything else (javascript:, data:, paths) stays text.
        const safe = /^https?:\/\//i.test(m[5]);
        out.push(safe ? h("a", { href: m[5], rel: "noopener noreferrer", target: "_blank" }, m[4]) : `${m[4]} (${m[5]})`);
      } else if (m[6]) out.push(h("span", { class: "wikilink" }, m[6]));
      last = re.lastIndex;
    }
    out.push(text.slice(last));
    return out;
  }
  function markdown(body) {
    const root = h("div", { class: "markdown" });
    const lines = body.split("\n");
    let para = [], list = null, code = null;
    const flush = () => {
      if (para.length) root.append(h("p", {}, inline(para.join(" "))));
      para = [];
      if (list) root.append(list);
      list = null;
    };
    for (const line of lines) {
      if (code) {
        if (/^\s*(```|~~~)/.test(line)) { root.append(h("pre", {}, h("code", {}, code.join("\n")))); code = null; } else code.push(line);
        continue;
      }
      if (/^\s*(```|~~~)/.test(line)) { flush(); code = []; continue; }
      const head = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
      const item = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(line);
      if (head) { flush(); root.append(h(`h${Math.min(6, head[1].length + 1)}`, {}, inline(head[2]))); }
      else if (item) { if (para.length) { root.append(h("p", {}, inline(para.join(" ")))); para = []; } list = list || h("ul", {}); list.append(h("li", {}, inline(item[1]))); }
      else if (/^\s*>\s?/.test(line)) { flush(); root.append(h("blockquote", {}, inline(line.replace(/^\s*>\s?/, "")))); }
      else if (!line.trim()) flush();
      else { if (list) flush(); para.push(line.trim()); }
    }
    if (code) root.append(h("pre", {}, h("code", {}, code.join("\n"))));
    flush();
    return root;
  }
  // The body without its front matter (shown apart).
  function body(content) {
    const m = /^\uFEFF?(---|\+\+\+)\r?\n[\s\S]*?\r?\n(\1|\.\.\.)\r?\n?/.exec(content);
    return m ? content.slice(m[0].length) : content;
  }

  function fileView(id) {
    const main = $("#main");
    main.replaceChildren(h("h1", {}, h("a", { href: "#/knowledge" }, "Knowledge"), " / …"));
    api("GET", `/api/knowledge/files/${enc(id)}`).then((f) => {
      const meta = [["Agent", f.agent || "-"], ["Path", f.file_path], ["Category", f.category || "-"],
        ["Creator", f.creator || "-"], ["Tags", f.tags.join(", ") || "-"],
        ["Confidence", f.confidence === null || f.confidence === undefined ? "-" : f.confidence],
        ["Size", bytes(f.bytes)], ["Changed", time(f.updated_at)], ["Words", f.insights.words]];
      if (f.problem) meta.push(["Problem", f.problem]);
      const fm = Object.entries(f.front_matter || {});
      main.replaceChildren(
        h("h1", {}, h("a", { href: "#/knowledge" }, "Knowledge"), ` / ${f.title}`),
        h("div", { class: "kb-file" },
          h("article", { class: "card", id: "kb-content" }, markdown(body(f.content))),
          h("aside", {},
            h("section", { class: "card" }, h("dl", { class: "kv" }, meta.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]))),
            fm.length ? h("section", { class: "card" }, h("h3", {}, "Front matter"),
              h("dl", { class: "kv", id: "kb-front-matter" }, fm.map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "string" ? v : JSON.stringify(v))]))) : null,
            f.insights.headings.length ? h("section", { class: "card" }, h("h3", {}, "Headings"),
              h("ul", { class: "kb-outline" }, f.insights.headings.map((x) => h("li", { style: `margin-left:${(x.level - 1) * 0.8}rem` }, x.text)))) : null,
            f.insights.links.length ? h("section", { class: "card" }, h("h3", {}, "Links"),
              h("ul", {}, f.insights.links.map((l) => h("li", {}, /^https?:\/\//i.test(l) ? h("a", { href: l, rel: "noopener noreferrer", target: "_blank" }, l) : l)))) : null)));
    }).catch((e) => main.replaceChildren(h("h1", {}, h("a", { href: "#/knowledge" }, "Knowledge")), h("p", { class: "muted" }, e.message)));
    return {};
  }

  pages.knowledge = (arg) => {
    if (arg) return fileView(arg);
    const q = h("input", { type: "search", id: "kb-q", placeholder: "Search notes: words, \"a phrase\", prefix*, -word, tag:x", autocomplete: "off", "aria-label": "Search" });
    const agent = h("select", { id: "kb-agent", "aria-label": "Agent" }, h("option", { value: "" }, "All agents"));
    const tag = h("input", { type: "text", id: "kb-tag", placeholder: "tag", size: "10", "aria-label": "Tag" });
    const scanBtn = can("operator") ? h("button", { type: "button", id: "kb-scan" }, "Scan now") : null;
    const progress = h("span", { id: "kb-scan-state", class: "muted" });
    const stats = h("p", { id: "kb-stats", class: "muted" });
    const counts = h("div", { id: "kb-counts", class: "chips" });
    const hits = h("div", { id: "kb-hits" });
    const agents = h("ul", { id: "kb-agents", class: "plain" });
    const creators = h("ul", { id: "kb-creators", class: "plain" });
    $("#main").replaceChildren(h("h1", {}, "Knowledge"), stats,
      h("div", { class: "toolbar" }, q, agent, tag, scanBtn, progress),
      h("div", { class: "kb-layout" },
        h("section", {}, counts, hits),
        h("aside", {}, h("section", { class: "card" }, h("h3", {}, "Agents"), agents),
          h("section", { class: "card" }, h("h3", {}, "Creators"), creators))));

    const showStats = async () => {
      try {
        const s = await api("GET", "/api/knowledge/stats");
        stats.textContent = `${s.files} files (${bytes(s.bytes)}) · ${s.agents} agents · ${s.creators} creators · index ${bytes(s.index_bytes)} · last scan ${time(s.last_scan_at)}` +
          (s.watch_problem ? ` · watching limited: ${s.watch_problem}` : s.watching ? " · watching for changes" : "");
      } catch (e) { stats.textContent = e.message; }
    };
    const showLists = async () => {
      try {
        const [list, people] = await Promise.all([api("GET", "/api/knowledge/agents"), api("GET", "/api/knowledge/creators")]);
        const chosen = agent.value;
        agent.replaceChildren(h("option", { value: "" }, "All agents"), ...list.map((a) => h("option", { value: a.name, selected: a.name === chosen }, `${a.name} (${a.files})`)));
        agents.replaceChildren(...list.map((a) => h("li", {}, h("button", { type: "button", class: "link", onclick: () => { agent.value = a.name; run(); } }, a.name),
          h("span", { class: "muted" }, [` ${a.files}`, a.level, a.category].filter(Boolean).join(" · ")))));
        creators.replaceChildren(...(people.length ? people.map((c) => h("li", {},
          h("button", { type: "button", class: "link", onclick: () => { q.value = `creator:${c.id} ${q.value.replace(/creator:\S+\s*/g, "")}`.trim(); run(); } }, c.name),
          h("span", { class: "muted" }, ` ${c.platform || ""} · ${c.files} files`))) : [h("li", { class: "muted" }, "No catalogue.")]));
      } catch (e) { agents.replaceChildren(h("li", { class: "muted" }, e.message)); }
    };

    let seq = 0, timer;
    async function run() {
      const mine = ++seq;
      const text = q.value.trim();
      if (!text && !agent.value && !tag.value.trim()) { hits.replaceChildren(h("p", { class: "muted" }, "Type to search.")); counts.replaceChildren(); return; }
      const params = new URLSearchParams({ q: text, limit: "30" });
      if (agent.value) params.set("agent", agent.value);
      if (tag.value.trim()) params.set("tag", tag.value.trim());
      try {
        const a = await api("GET", `/api/knowledge/search?${params}`);
        if (mine !== seq) return; // a newer search answered first
        counts.replaceChildren(h("span", { class: "muted", id: "kb-total" }, `${a.total} files · ${a.took_ms.toFixed(1)} ms`),
          ...Object.entries(a.agents).map(([name, n]) => h("button", { type: "button", class: `chip${name === agent.value ? " on" : ""}`,
            onclick: () => { agent.value = agent.value === name ? "" : name; run(); } }, `${name} ${n}`)));
        hits.replaceChildren(...(a.hits.length ? a.hits.map((x) => h("article", { class: "hit" },
          h("h3", {}, h("a", { href: `#/knowledge/${x.file_id}` }, x.title)),
          h("p", { class: "muted" }, `${x.agent || "-"} · ${x.path} · ${x.score.toFixed(2)}`),
          h("p", { class: "snippet" }, marked(x.snippet, x.highlights)))) : [h("p", { class: "muted" }, "Nothing matches.")]));
      } catch (e) {
        if (mine !== seq) return;
        counts.replaceChildren();
        hits.replaceChildren(h("p", { class: "muted" }, e.message));
      }
    }
    const soon = () => { clearTimeout(timer); timer = setTimeout(run, 120); };
    q.addEventListener("input", soon);
    tag.addEventListener("input", soon);
    agent.addEventListener("change", run);

    let stopJobs = null;
    if (scanBtn) scanBtn.addEventListener("click", async () => {
      scanBtn.disabled = true;
      try {
        const job = await api("POST", "/api/knowledge/scan");
        progress.textContent = `scan ${job.id} ${job.status}`;
        const show = (j) => {
          if (j.id !== job.id) return;
          const p = j.progress === null || j.progress === undefined ? "" : ` ${Math.round(j.progress)}% (${j.progress_label || ""})`;
          progress.replaceChildren(`scan ${j.id} ${j.status}${p}`, h("progress", { max: "100", value: String(j.progress || 0) }));
          if (FINAL.has(j.status)) {
            const r = j.result || {};
            progress.textContent = j.status === "succeeded"
              ? `scan ${j.id}: added ${r.added}, changed ${r.changed}, removed ${r.removed}, unchanged ${r.unchanged}${r.errors && r.errors.length ? `, ${r.errors.length} problems` : ""}`
              : `scan ${j.id} ${j.status}: ${j.error || ""}`;
            scanBtn.disabled = false;
            if (stopJobs) { stopJobs(); stopJobs = null; }
            showStats(); showLists(); run();
          }
        };
        if (stopJobs) stopJobs();
        stopJobs = live("/api/jobs/ws", show);
        // It may have ended before the socket opened.
        show(await api("GET", `/api/jobs/${job.id}`));
      } catch (e) { toast(e.message, true); scanBtn.disabled = false; }
    });

    showStats();
    showLists();
    run();
    q.focus();
    return { close: () => { clearTimeout(timer); if (stopJobs) stopJobs(); } };
  };
})();
