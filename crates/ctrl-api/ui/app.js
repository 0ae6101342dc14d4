// Control Center dashboard: a small single-page app over the same API as the CLI.
// Every value from the daemon goes into the page as text (textContent), never as HTML.
"use strict";
(function () {
  // `?host=NAME`: every page is that host's, through this hub.
  const S = { me: null, services: new Map(), stats: null, history: {}, page: null, cleanup: [],
    host: new URLSearchParams(location.search).get("host") };
  const ROLE = { viewer: 0, operator: 1, admin: 2 };
  const VIRTUAL_NET = /^(lo$|veth|docker|br-|virbr|cni|flannel|cali|vxlan|ifb)/;

  // ---- helpers ----------------------------------------------------------------
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === undefined || kid === null || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const can = (role) => S.me && ROLE[S.me.role] >= ROLE[role];

  function bytes(n) {
    if (n === null || n === undefined) return "-";
    const u = ["B", "K", "M", "G", "T"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + u[i];
  }
  function dur(s) {
    if (s === null || s === undefined) return "-";
    const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return `${d}d ${hh}h`;
    if (hh) return `${hh}h ${m}m`;
    if (m) return `${m}m ${s % 60}s`;
    return `${s}s`;
  }
  const time = (iso) => iso ? new Date(iso).toLocaleString() : "-";
  function toast(msg, bad) {
    const t = $("#toast");
    t.textContent = msg;
    t.className = bad ? "error" : "";
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  // A path of this daemon's API, or of the picked host's through the hub (the
  // hub's own users, tokens, audit and hosts stay the hub's).
  const HUB_ONLY = /^\/api\/(auth|users|tokens|audit|hosts)(\/|$|\?)/;
  function hostPath(path) {
    if (!S.host || !path.startsWith("/api/") || HUB_ONLY.test(path)) return path;
    return `/api/hosts/${encodeURIComponent(S.host)}${path}`;
  }

  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = S.me ? S.me.csrf_token || "" : "";
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(hostPath(path), opts);
    if (res.status === 401) { location.href = "/login"; throw new Error("logged out"); }
    let env;
    try { env = await res.json(); } catch (e) { throw new Error(`HTTP ${res.status}`); }
    if (!env.success) throw new Error(env.error || `HTTP ${res.status}`);
    return env.data;
  }

  // A WebSocket that reconnects by itself (after a daemon restart, say). For a
  // host behind the hub, the route's server-sent twin (`…/ws` → `…/stream`):
  // WebSockets do not go through the hub.
  function live(path, onMessage) {
    if (S.host) return stream(path.replace(/\/ws$/, "/stream"), onMessage);
    let ws, delay = 500, stopped = false, timer;
    const open = () => {
      if (stopped) return;
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${proto}://${location.host}${path}`);
      ws.onopen = () => { delay = 500; setConn(true); };
      ws.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); } };
      ws.onclose = () => {
        if (stopped) return;
        setConn(false);
        timer = setTimeout(open, delay);
        delay = Math.min(delay * 2, 8000);
      };
    };
    open();
    return () => { stopped = true; clearTimeout(timer); ws.close(); };
  }
  // Server-sent events read with fetch: each event's data is one message.
  function stream(path, onMessage) {
    let stopped = false, ctl, timer, delay = 500;
    const open = async () => {
      if (stopped) return;
      ctl = new AbortController();
      try {
        const res = await fetch(hostPath(path), { credentials: "same-origin", signal: ctl.signal });
        if (res.status === 401) { location.href = "/login"; return; }
        // A refusal that will not change (a removed host, a route it lacks): stop.
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          setConn(false);
          toast(`Live updates refused: HTTP ${res.status}`, true);
          return;
        }
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        setConn(true); delay = 500;
        const reader = res.body.getReader(), dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          let end;
          while ((end = buf.indexOf("\n\n")) >= 0) {
            const data = buf.slice(0, end).split("\n").filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
            buf = buf.slice(end + 2);
            if (data) try { onMessage(JSON.parse(data)); } catch (err) { console.error(err); }
          }
        }
      } catch (e) { if (stopped) return; }
      setConn(false);
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 8000);
    };
    open();
    return () => { stopped = true; clearTimeout(timer); if (ctl) ctl.abort(); };
  }
  function setConn(on) {
    const c = $("#conn");
    c.classList.toggle("live", on);
    c.title = on ? "Live updates connected" : "Reconnecting…";
  }

  // ---- live state ---------------------------------------------------------------
  function onStats(env) {
    if (!env || !env.success) return;
    S.stats = env.data;
    const t = Math.floor(new Date(S.stats.timestamp).getTime() / 1000);
    const net = S.stats.network.filter((n) => !VIRTUAL_NET.test(n.interface));
    const add = (m, v) => {
      const arr = S.history[m];
      if (!arr) return;
      if (!arr.length || arr[arr.length - 1][0] < t) arr.push([t, v]);
      while (arr.length && arr[0][0] < t - 3600) arr.shift();
    };
    add("cpu", S.stats.cpu.percent);
    add("memory", S.stats.memory.percent);
    add("net_rx", net.reduce((a, n) => a + n.rx_bytes_per_s, 0));
    add("net_tx", net.reduce((a, n) => a + n.tx_bytes_per_s, 0));
    if (S.page && S.page.onStats) S.page.onStats();
  }
  function onServices(msg) {
    if (msg.type === "snapshot") {
      S.services = new Map(msg.data.map((s) => [s.name, s]));
    } else if (msg.type === "event") {
      S.services.set(msg.data.service.name, msg.data.service);
    }
    if (S.page && S.page.onServices) S.page.onServices(msg);
  }

  // ---- pages ----------------------------------------------------------------------
  const pages = {};

  pages.overview = () => {
    const main = $("#main");
    main.replaceChildren(
      h("h1", {}, "Overview"),
      h("div", { class: "grid", id: "gauges" }),
      h("h2", {}, "Last hour"),
      h("div", { class: "grid" },
        chartCard("cpu", "CPU %"), chartCard("memory", "Memory %"),
        chartCard("net_rx", "Network in /s"), chartCard("net_tx", "Network out /s")),
      h("h2", {}, "Services"),
      h("div", { id: "svc-summary" }),
    );
    Promise.all(["cpu", "memory", "net_rx", "net_tx"].map((m) =>
      api("GET", `/api/system/history?metric=${m}&range=1h`).then((d) => { S.history[m] = d.points; })))
      .then(draw).catch((e) => toast(e.message, true));
    function chartCard(metric, label) {
      return h("div", { class: "card" }, h("h3", {}, label),
        h("canvas", { class: "chart", id: `chart-${metric}`, "aria-label": `${label} over the last hour`, role: "img" }));
    }
    function gauges() {
      const s = S.stats;
      if (!s) return;
      const g = (title, pct, text) => h("div", { class: "card" }, h("h3", {}, title),
        h("div", { class: "big" }, `${pct.toFixed(1)}%`),
        h("div", { class: "bar" + (pct > 90 ? " hot" : "") }, h("span", { style: `width:${Math.min(pct, 100)}%` })),
        h("div", { class: "muted" }, text));
      const disk = s.disks[0];
      $("#gauges").replaceChildren(
        g("CPU", s.cpu.percent, `${s.cpu.count} cores · load ${s.cpu.load_avg.map((x) => x.toFixed(2)).join(" ")}`),
        g("Memory", s.memory.percent, `${bytes(s.memory.used_bytes)} of ${bytes(s.memory.total_bytes)}`),
        g("Swap", s.swap.percent, `${bytes(s.swap.used_bytes)} of ${bytes(s.swap.total_bytes)}`),
        disk ? g(`Disk ${disk.mount}`, disk.percent, `${bytes(disk.used_bytes)} of ${bytes(disk.total_bytes)}`) : null,
        h("div", { class: "card" }, h("h3", {}, "Host"), h("div", { class: "big" }, `up ${dur(s.uptime_s)}`),
          h("div", { class: "muted" }, `${s.process_count} processes`)),
      );
    }
    function summary() {
      const list = [...S.services.values()];
      const rank = (s) => (s.status === "fatal" || s.status === "exited" || s.health === "unhealthy") ? 0
        : (s.status === "backoff" || s.status === "starting") ? 1 : 2;
      list.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
      const up = list.filter((s) => s.status === "running" || s.status === "ready").length;
      $("#svc-summary").replaceChildren(
        h("p", { class: "muted" }, `${up} of ${list.length} running`),
        serviceTable(list, false));
    }
    function draw() {
      for (const m of ["cpu", "memory", "net_rx", "net_tx"]) {
        const c = document.getElementById(`chart-${m}`);
        if (c && S.history[m]) chart(c, S.history[m], m.startsWith("net") ? bytes : (v) => `${v.toFixed(0)}%`,
          m.startsWith("net") ? null : 100);
      }
    }
    gauges(); summary();
    return { onStats: () => { gauges(); draw(); }, onServices: summary };
  };

  // A line chart on a canvas: points are [unix_s, value].
  function chart(canvas, points, fmt, fixedMax) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, hgt = canvas.clientHeight;
    if (!w || !hgt) return;
    canvas.width = w * dpr; canvas.height = hgt * dpr;
    const g = canvas.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, hgt);
    const css = getComputedStyle(document.documentElement);
    const now = Date.now() / 1000, t0 = now - 3600;
    const max = fixedMax || Math.max(1, ...points.map((p) => p[1])) * 1.15;
    g.strokeStyle = css.getPropertyValue("--line"); g.lineWidth = 1;
    for (const f of [0.25, 0.5, 0.75]) { g.beginPath(); g.moveTo(0, hgt * f); g.lineTo(w, hgt * f); g.stroke(); }
    g.fillStyle = css.getPropertyValue("--muted"); g.font = "11px system-ui";
    g.fillText(fmt(max), 4, 12);
    if (points.length < 2) return;
    g.strokeStyle = css.getPropertyValue("--accent"); g.lineWidth = 1.5;
    g.beginPath();
    points.forEach((p, i) => {
      const x = (p[0] - t0) / 3600 * w, y = hgt - (p[1] / max) * (hgt - 4) - 2;
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
    canvas.dataset.points = String(points.length);
    canvas.dataset.last = String(points[points.length - 1][0]);
  }

  function serviceTable(list, withControls) {
    const head = h("tr", {}, ["Name", "State", "PID", "Port", "Uptime", "Restarts", "Health", "CPU %", "Memory"].map((t, i) =>
      h("th", { class: i >= 4 && i !== 6 ? "num" : null }, t)), withControls && can("operator") ? h("th", {}, "") : null);
    const rows = list.map((s) => {
      const ctl = withControls && can("operator") ? h("td", {}, controls(s.name), failure(s.name)) : null;
      return h("tr", { class: "service-row", dataset: { name: s.name } },
        h("td", {}, h("a", { href: `#/services/${encodeURIComponent(s.name)}` }, s.name)),
        h("td", {}, h("span", { class: `state state-${s.status}`, title: s.reason || "" }, s.status)),
        h("td", { class: "num" }, s.pid ?? "-"), h("td", { class: "num" }, s.port ?? "-"),
        h("td", { class: "num" }, dur(s.uptime_s)), h("td", { class: "num" }, s.restarts),
        h("td", {}, s.health), h("td", { class: "num" }, s.cpu_percent === null ? "-" : s.cpu_percent.toFixed(1)),
        h("td", { class: "num" }, bytes(s.memory_bytes)), ctl);
    });
    return h("div", { class: "table-wrap" }, h("table", { id: "services-table" }, h("thead", {}, head), h("tbody", {}, rows)));
  }

  // A start waits until the service is up or failed; a failure stays shown
  // beside the buttons that asked, until the next action on that service.
  const failures = new Map(), busy = new Set();
  function rerender() { if (S.page && S.page.onServices) S.page.onServices({ type: "control" }); }
  async function control(name, action) {
    failures.delete(name); busy.add(name); rerender();
    try {
      const s = await api("POST", `/api/services/${encodeURIComponent(name)}/${action}`);
      toast(`${name}: ${s.status}`);
    } catch (e) {
      failures.set(name, e.message);
      toast(`${name}: ${action} failed`, true);
    } finally { busy.delete(name); rerender(); }
  }
  function controls(name) {
    return h("div", { class: "actions" }, ["start", "stop", "restart"].map((a) => h("button", {
      type: "button", class: a === "stop" ? "ghost" : null, dataset: { action: a, name },
      disabled: busy.has(name) && a !== "stop" ? "" : null, onclick: () => control(name, a),
    }, a[0].toUpperCase() + a.slice(1))));
  }
  function failure(name) {
    return failures.has(name) ? h("pre", { class: "start-failure", role: "alert", dataset: { name } }, failures.get(name)) : null;
  }

  pages.services = () => {
    const render = () => $("#main").replaceChildren(
      h("h1", {}, "Services"),
      serviceTable([...S.services.values()].sort((a, b) => a.name.localeCompare(b.name)), true));
    render();
    return { onServices: render };
  };

  pages.service = (name) => {
    const main = $("#main");
    const logBox = h("div", { class: "logs", id: "log-lines", tabindex: "0", "aria-label": "Log lines" });
    const streamSel = h("select", { id: "log-stream", "aria-label": "Stream" },
      h("option", { value: "all" }, "stdout + stderr"), h("option", { value: "stdout" }, "stdout"), h("option", { value: "stderr" }, "stderr"));
    const search = h("input", { id: "log-search", type: "search", placeholder: "Search…", "aria-label": "Search the logs" });
    const pause = h("button", { type: "button", class: "ghost", id: "log-pause" }, "Pause");
    const download = h("button", { type: "button", class: "ghost", id: "log-download" }, "Download");
    const info = h("div", { class: "card", id: "svc-info" });
    const events = h("ul", { class: "events", id: "svc-events" });
    main.replaceChildren(
      h("h1", {}, h("a", { href: "#/services" }, "Services"), " / ", name),
      info,
      h("h2", {}, "Logs"),
      h("div", { class: "toolbar" }, streamSel, search, pause, download),
      logBox,
      h("h2", {}, "Events"),
      events,
      h("h2", {}, "Configuration"),
      h("pre", { class: "logs config", id: "svc-config" }));
    api("GET", `/api/services/${encodeURIComponent(name)}/config`)
      .then((c) => { $("#svc-config").textContent = JSON.stringify(c, null, 2); })
      .catch((e) => toast(e.message, true));
    let paused = false, held = [];
    const visible = (el) => {
      const st = streamSel.value, q = search.value.toLowerCase();
      el.hidden = (st !== "all" && el.dataset.stream !== st) || (q && !el.dataset.text.includes(q));
    };
    const add = (l) => {
      const el = h("span", { class: `line ${l.stream}`, dataset: { stream: l.stream, text: l.line.toLowerCase() } },
        l.ts ? h("span", { class: "ts" }, l.ts.slice(11, 23)) : null, l.line);
      visible(el);
      const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
      logBox.append(el);
      while (logBox.childElementCount > 5000) logBox.firstElementChild.remove();
      if (atBottom) logBox.scrollTop = logBox.scrollHeight;
    };
    const refilter = () => { for (const el of logBox.children) visible(el); };
    streamSel.addEventListener("change", refilter);
    search.addEventListener("input", refilter);
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused) { held.forEach(add); held = []; }
    });
    download.addEventListener("click", async () => {
      try {
        const lines = await api("GET", `/api/services/${encodeURIComponent(name)}/logs?lines=100000`);
        const text = lines.map((l) => `${l.ts || ""} ${l.stream} ${l.line}`).join("\n") + "\n";
        const a = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/plain" })), download: `${name}.log` });
        document.body.append(a); a.click(); a.remove();
      } catch (e) { toast(e.message, true); }
    });
    const src = new EventSource(hostPath(`/api/services/${encodeURIComponent(name)}/logs?follow=true&lines=500`));
    // A reconnect replays the last lines: the box starts again rather than repeat them.
    src.addEventListener("open", () => { logBox.replaceChildren(); held = []; });
    src.addEventListener("log", (e) => { const l = JSON.parse(e.data); if (paused) held.push(l); else add(l); });
    const eventItem = (e) => h("li", {}, h("span", { class: "muted" }, time(e.at)), " ",
      e.from, " → ", h("span", { class: `state state-${e.to}` }, e.to),
      e.pid ? ` pid ${e.pid}` : "", e.exit_code !== null && e.exit_code !== undefined ? ` code ${e.exit_code}` : "",
      e.signal ? ` ${e.signal}` : "", e.reason ? h("span", { class: "muted" }, ` (${e.reason})`) : "");
    api("GET", `/api/services/${encodeURIComponent(name)}/events?limit=100`)
      .then((list) => events.replaceChildren(...list.reverse().map(eventItem)))
      .catch((e) => toast(e.message, true));
    const renderInfo = () => {
      const s = S.services.get(name);
      if (!s) { info.replaceChildren(h("p", { class: "error" }, `No service named ${name}`)); return; }
      const kv = [["State", h("span", { class: `state state-${s.status}` }, s.status)], ["Reason", s.reason || "-"],
        ["Command", s.command], ["PID", s.pid ?? "-"], ["Port", s.port ?? "-"], ["Uptime", dur(s.uptime_s)],
        ["Restarts", s.restarts], ["Health", s.health], ["Last exit", s.exit_code ?? s.signal ?? "-"],
        ["CPU %", s.cpu_percent === null ? "-" : s.cpu_percent.toFixed(1)], ["Memory", bytes(s.memory_bytes)],
        ["Known since", time(s.created_at)]];
      info.replaceChildren(
        can("operator") ? controls(name) : null, can("operator") ? failure(name) : null,
        h("dl", { class: "kv" }, kv.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
    };
    renderInfo();
    return {
      onServices: (msg) => {
        renderInfo();
        if (msg.type === "event" && msg.data.event.service === name) events.prepend(eventItem(msg.data.event));
      },
      close: () => src.close(),
    };
  };

  function poll(fn, ms) {
    let stopped = false, timer;
    const run = async () => { if (stopped) return; await fn(); timer = setTimeout(run, ms); };
    run();
    return () => { stopped = true; clearTimeout(timer); };
  }

  pages.processes = () => {
    let sort = "cpu";
    const q = h("input", { type: "search", id: "proc-filter", placeholder: "Filter by name, command, user, service", "aria-label": "Filter" });
    const body = h("div", {});
    $("#main").replaceChildren(h("h1", {}, "Processes"), h("div", { class: "toolbar" }, q), body);
    const cols = [["pid", "PID", true], ["name", "Name", true], [null, "User"], ["cpu", "CPU %", true], ["memory", "Memory", true], [null, "Service"], [null, "Command"]];
    const load = async () => {
      try {
        const list = await api("GET", `/api/system/processes?limit=200&sort=${sort}&q=${encodeURIComponent(q.value)}`);
        body.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "processes-table" },
          h("thead", {}, h("tr", {}, cols.map(([key, label]) => h("th", {
            class: (key ? "sortable " : "") + (["pid", "cpu", "memory"].includes(key) ? "num" : ""),
            tabindex: key ? "0" : null, "aria-sort": key === sort ? "descending" : null,
            onclick: key ? () => { sort = key; load(); } : null,
            onkeydown: key ? (e) => { if (e.key === "Enter") { sort = key; load(); } } : null,
          }, label + (key === sort ? " ▾" : ""))))),
          h("tbody", {}, list.map((p) => h("tr", {},
            h("td", { class: "num" }, p.pid), h("td", {}, p.name), h("td", {}, p.user || "-"),
            h("td", { class: "num" }, p.cpu_percent.toFixed(1)), h("td", { class: "num" }, bytes(p.memory_bytes)),
            h("td", {}, p.service || "-"), h("td", { class: "cmd hide-narrow" }, p.cmdline)))))));
      } catch (e) { toast(e.message, true); }
    };
    q.addEventListener("input", load);
    return { close: poll(load, 3000) };
  };

  pages.ports = () => {
    const body = h("div", {});
    $("#main").replaceChildren(h("h1", {}, "Ports"), body);
    const load = async () => {
      try {
        const list = await api("GET", "/api/system/ports?start=1&end=65535");
        body.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "ports-table" },
          h("thead", {}, h("tr", {}, ["Port", "Protocol", "Address", "PID", "Process", "Service"].map((t) => h("th", {}, t)))),
          h("tbody", {}, list.map((p) => h("tr", {}, h("td", { class: "num" }, p.port), h("td", {}, p.protocol),
            h("td", {}, p.address), h("td", { class: "num" }, p.pid ?? "-"), h("td", {}, p.process || "-"),
            h("td", {}, p.service ? h("a", { href: `#/services/${encodeURIComponent(p.service)}` }, p.service) : "-")))))));
      } catch (e) { toast(e.message, true); }
    };
    return { close: poll(load, 5000) };
  };

  pages.access = () => {
    const users = h("div", {}), tokens = h("div", {}), shown = h("div", {});
    const role = (id) => h("select", { id, "aria-label": "Role" }, ["viewer", "operator", "admin"].map((r) => h("option", { value: r }, r)));
    const uName = h("input", { id: "new-user", placeholder: "name", required: true, "aria-label": "User name" });
    const uPass = h("input", { id: "new-password", type: "password", placeholder: "password (8+)", required: true, "aria-label": "Password" });
    const uRole = role("new-user-role");
    const tName = h("input", { id: "new-token", placeholder: "what it is for", required: true, "aria-label": "Token name" });
    const tRole = role("new-token-role");
    const tExp = h("input", { id: "new-token-expires", placeholder: "expires (e.g. 30d)", "aria-label": "Expires in" });
    $("#main").replaceChildren(
      h("h1", {}, "Users & tokens"),
      h("h2", {}, "Users"),
      h("form", { class: "inline", onsubmit: async (e) => {
        e.preventDefault();
        try { await api("POST", "/api/users", { name: uName.value, password: uPass.value, role: uRole.value }); uName.value = uPass.value = ""; load(); }
        catch (err) { toast(err.message, true); }
      } }, uName, uPass, uRole, h("button", { type: "submit" }, "Add user")),
      users,
      h("h2", {}, "API tokens"),
      h("form", { class: "inline", onsubmit: async (e) => {
        e.preventDefault();
        try {
          const t = await api("POST", "/api/tokens", { name: tName.value, role: tRole.value, expires_in: tExp.value || null });
          shown.replaceChildren(h("p", {}, "Copy this token now; it is not shown again:"), h("p", { class: "secret", id: "token-value" }, t.token));
          tName.value = tExp.value = ""; load();
        } catch (err) { toast(err.message, true); }
      } }, tName, tRole, tExp, h("button", { type: "submit" }, "Create token")),
      shown, tokens);
    const load = async () => {
      try {
        const [us, ts] = await Promise.all([api("GET", "/api/users"), api("GET", "/api/tokens")]);
        users.replaceChildren(h("table", { id: "users-table" }, h("thead", {}, h("tr", {}, ["Name", "Role", "Added", ""].map((t) => h("th", {}, t)))),
          h("tbody", {}, us.map((u) => h("tr", {}, h("td", {}, u.name), h("td", {}, u.role), h("td", {}, time(u.created_at)),
            h("td", {}, h("button", { type: "button", class: "danger", onclick: async () => {
              if (!confirm(`Remove user ${u.name}?`)) return;
              try { await api("DELETE", `/api/users/${encodeURIComponent(u.name)}`); load(); } catch (err) { toast(err.message, true); }
            } }, "Remove")))))));
        tokens.replaceChildren(h("table", { id: "tokens-table" }, h("thead", {}, h("tr", {}, ["ID", "Name", "Role", "Created by", "Expires", "State", ""].map((t) => h("th", {}, t)))),
          h("tbody", {}, ts.map((t) => h("tr", {}, h("td", { class: "num" }, t.id), h("td", {}, t.name), h("td", {}, t.role),
            h("td", {}, t.created_by || "-"), h("td", {}, time(t.expires_at)), h("td", {}, t.revoked_at ? "revoked" : "active"),
            h("td", {}, t.revoked_at ? "" : h("button", { type: "button", class: "danger", onclick: async () => {
              if (!confirm(`Revoke token ${t.name}?`)) return;
              try { await api("DELETE", `/api/tokens/${t.id}`); load(); } catch (err) { toast(err.message, true); }
            } }, "Revoke")))))));
      } catch (e) { toast(e.message, true); }
    };
    load();
    return {};
  };

  pages.audit = () => {
    const body = h("div", {});
    $("#main").replaceChildren(h("h1", {}, "Audit"), body);
    api("GET", "/api/audit?limit=500").then((list) => body.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "audit-table" },
      h("thead", {}, h("tr", {}, ["When", "Who", "What", "Target", "From", "Result", "Detail"].map((t) => h("th", {}, t)))),
      h("tbody", {}, list.map((e) => h("tr", {}, h("td", {}, time(e.at)), h("td", {}, e.actor), h("td", {}, e.action),
        h("td", {}, e.target || "-"), h("td", {}, e.address || "local"), h("td", {}, e.result), h("td", {}, e.detail || "")))))))
    ).catch((e) => toast(e.message, true));
    return {};
  };

  // The pages of jobs.js use the same helpers.
  window.ctrl = { S, h, $, api, hostPath, toast, time, bytes, dur, can, live, poll, pages };

  // ---- routing ------------------------------------------------------------------------
  function route() {
    if (S.page && S.page.close) S.page.close();
    const [, name, arg] = (location.hash || "#/overview").split("/");
    let page = pages[name] ? name : "overview";
    if (page === "services" && arg) page = "service";
    if (page === "jobs" && arg) page = "job";
    if ((page === "access" || page === "audit") && !can("admin")) page = "overview";
    // Sessions and the gateway's playground are the hub's own (WebSockets, /v1).
    if (S.host && (page === "llm" || page === "sessions" || page === "desktop")) page = "overview";
    const tab = { service: "services", job: "jobs", desktop: "sessions" }[page] || page;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === tab);
    S.page = pages[page](arg ? decodeURIComponent(arg) : undefined) || {};
    document.title = `${S.host ? `${S.host} · ` : ""}${page[0].toUpperCase() + page.slice(1)} · Control Center`;
  }

  // The host picker: this hub, or one of its hosts (every page becomes its page).
  async function hostPicker() {
    const pick = $("#host-picker");
    let hosts = [];
    try { hosts = await api("GET", "/api/hosts"); } catch (e) { return; }
    if (!hosts.length && !S.host) return;
    const label = (x) => `${x.name} (${x.status})`;
    pick.replaceChildren(h("option", { value: "" }, "This hub"),
      ...hosts.map((x) => h("option", { value: x.name, selected: x.name === S.host }, label(x))));
    pick.hidden = false;
    pick.addEventListener("change", () => {
      const q = pick.value ? `?host=${encodeURIComponent(pick.value)}` : "";
      location.href = `${location.pathname}${q}${location.hash || "#/overview"}`;
    });
    // Pages that need this daemon's own WebSockets or gateway are the hub's only.
    for (const a of document.querySelectorAll("#nav a[data-hub-only]")) a.hidden = Boolean(S.host);
  }

  async function start() {
    const theme = localStorage.getItem("ctrl-theme");
    if (theme) document.documentElement.dataset.theme = theme;
    $("#theme").addEventListener("click", () => {
      const dark = document.documentElement.dataset.theme === "dark" ||
        (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
      document.documentElement.dataset.theme = dark ? "light" : "dark";
      localStorage.setItem("ctrl-theme", document.documentElement.dataset.theme);
      route();
    });
    $("#logout").addEventListener("click", async () => {
      try { await api("POST", "/api/auth/logout"); } catch (e) { /* already out */ }
      location.href = "/login";
    });
    try { S.me = await api("GET", "/api/auth/me"); } catch (e) { return; }
    $("#whoami").textContent = `${S.me.user} (${S.me.role})`;
    hostPicker();
    for (const a of document.querySelectorAll("#nav a[data-role]")) a.hidden = !can(a.dataset.role);
    try {
      const list = await api("GET", "/api/services");
      S.services = new Map(list.map((s) => [s.name, s]));
      S.stats = await api("GET", "/api/system/stats");
    } catch (e) { toast(e.message, true); }
    S.history = { cpu: [], memory: [], net_rx: [], net_tx: [] };
    live("/api/system/ws", onStats);
    live("/api/services/ws", onServices);
    window.addEventListener("hashchange", route);
    route();
  }
  // After every deferred script (jobs.js adds its pages) has run.
  document.addEventListener("DOMContentLoaded", start);
})();
