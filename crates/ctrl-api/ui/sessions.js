// Control Center dashboard: agent sessions. The list, a chat that streams the
// model's text, reasoning and tool calls as they happen (results folded), an
// interrupt button, and a desktop view through the VNC bridge with noVNC.
// The chat is drawn from the session's events alone: after a reload it replays
// them all, after a dropped connection it asks for those after the last one it
// has, so nothing is missing or doubled. Every value is put in the page as text.
"use strict";
(function () {
  const { h, $, api, toast, time, can, pages } = window.ctrl;
  const enc = encodeURIComponent;

  pages.sessions = (id) => (id ? chat(id) : list());

  function list() {
    const main = $("#main");
    const title = h("input", { type: "text", id: "session-title", placeholder: "What is it about?", "aria-label": "Title" });
    const create = h("button", { type: "submit", id: "session-new" }, "New session");
    const form = h("form", { class: "row", id: "session-form" }, title, create);
    const table = h("div", { id: "sessions" }, h("p", { class: "muted" }, "Loading…"));
    const desktops = h("div", { id: "desktops" });
    main.replaceChildren(h("h1", {}, "Sessions"), form, table, desktops);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      create.disabled = true;
      try {
        const s = await api("POST", "/api/sessions", title.value.trim() ? { title: title.value.trim() } : {});
        location.hash = `#/sessions/${s.id}`;
      } catch (err) { toast(err.message, true); create.disabled = false; }
    });
    const show = async () => {
      try {
        const rows = await api("GET", "/api/sessions");
        table.replaceChildren(rows.length ? h("table", {},
          h("tr", {}, ["id", "title", "status", "model", "owner", "messages", "updated"].map((x) => h("th", {}, x))),
          rows.map((s) => h("tr", {},
            h("td", {}, h("a", { href: `#/sessions/${s.id}` }, String(s.id))),
            h("td", {}, h("a", { href: `#/sessions/${s.id}` }, s.title)),
            h("td", {}, h("span", { class: `badge ${s.status}` }, s.status)),
            h("td", {}, s.model), h("td", {}, s.owner), h("td", {}, String(s.messages)), h("td", {}, time(s.updated_at))))) :
          h("p", { class: "muted" }, "No sessions yet."));
      } catch (e) { table.replaceChildren(h("p", { class: "muted" }, e.message)); }
    };
    if (can("operator")) {
      api("GET", "/api/vnc").then((targets) => {
        if (!targets.length) return;
        desktops.replaceChildren(h("h2", {}, "Desktops"),
          h("p", {}, targets.map((t) => [h("a", { href: `#/desktop/${enc(t.name)}`, class: "button" }, t.name), " "])));
      }).catch(() => {});
    }
    show();
    const every = setInterval(show, 3000);
    return { close: () => clearInterval(every) };
  }

  // ---- one session ----------------------------------------------------------------
  function chat(id) {
    const main = $("#main");
    const head = h("h1", {}, h("a", { href: "#/sessions" }, "Sessions"), " / ", h("span", { id: "session-name" }, `session ${id}`));
    const status = h("span", { id: "session-status", class: "badge" }, "…");
    const stop = h("button", { type: "button", id: "session-interrupt", disabled: true }, "Interrupt");
    const remove = h("button", { type: "button", id: "session-delete", class: "ghost" }, "Delete");
    const log = h("div", { id: "chat", class: "chat", "aria-live": "polite" });
    const input = h("textarea", { id: "chat-input", rows: "2", placeholder: "Ask the agent (Enter sends, Shift+Enter for a new line)", "aria-label": "Message" });
    const send = h("button", { type: "submit", id: "chat-send" }, "Send");
    const form = h("form", { class: "row chat-form" }, input, send);
    main.replaceChildren(head, h("p", { class: "row" }, status, stop, remove), log, form);

    let statusSeen = false;
    api("GET", `/api/sessions/${enc(id)}`).then((s) => {
      $("#session-name").textContent = s.title;
      if (!statusSeen) setStatus(s.status);
    }).catch((e) => { log.replaceChildren(h("p", { class: "muted" }, e.message)); });

    function setStatus(st) {
      status.textContent = st;
      status.className = `badge ${st}`;
      stop.disabled = st !== "running";
    }

    // What is being drawn: the answer being written, and tool blocks by call id.
    let last = 0, turn = null, answer = null, thinking = null;
    const tools = new Map();
    const scroll = () => { log.scrollTop = log.scrollHeight; };
    const block = () => {
      if (!turn) { turn = h("div", { class: "turn agent" }); log.append(turn); }
      return turn;
    };
    function draw(ev) {
      const d = ev.data || {};
      switch (ev.type) {
        case "status":
          statusSeen = true;
          setStatus(d.status);
          if (d.status === "running") {
            turn = null; answer = null; thinking = null;
            if (d.message) log.append(h("div", { class: "turn user" }, h("div", { class: "bubble" }, d.message.content)));
          } else {
            if (d.status === "interrupted") block().append(h("p", { class: "muted" }, `interrupted${d.dropped ? ` (${d.dropped} queued messages dropped)` : ""}`));
            turn = null; answer = null; thinking = null;
          }
          break;
        case "thinking":
          if (!thinking) {
            thinking = h("pre", { class: "thinking-text" });
            block().append(h("details", { class: "thinking" }, h("summary", {}, "thinking"), thinking));
            answer = null;
          }
          thinking.textContent += d.delta;
          break;
        case "text":
          if (!answer) { answer = h("div", { class: "bubble" }); block().append(answer); thinking = null; }
          answer.textContent += d.delta;
          break;
        case "tool_use": {
          const result = h("div", { class: "tool-result muted" }, "running…");
          const el = h("details", { class: "tool", "data-call": d.id },
            h("summary", {}, h("code", {}, d.name), " ", h("span", { class: "muted" }, d.arguments)), result);
          tools.set(d.id, el);
          block().append(el);
          answer = null; thinking = null;
          break;
        }
        case "tool_result": {
          let el = tools.get(d.id);
          if (!el) { el = h("details", { class: "tool", "data-call": d.id }, h("summary", {}, h("code", {}, d.name || "tool")), h("div", { class: "tool-result" })); block().append(el); }
          el.classList.add(d.ok ? "ok" : "failed");
          const body = [h("pre", {}, d.content)];
          if (d.image && d.image.startsWith("data:image/png;base64,")) body.push(h("img", { src: d.image, alt: "screenshot", class: "shot" }));
          el.querySelector(".tool-result").replaceChildren(...body);
          el.querySelector("summary").prepend(h("span", { class: "mark" }, d.ok ? "✓ " : "✗ "));
          break;
        }
        case "error":
          block().append(h("p", { class: "error-line" }, d.message));
          break;
      }
      scroll();
    }

    // Events over the WebSocket, from the last one drawn; reconnects with backoff.
    let ws, delay = 500, closed = false, timer;
    const open = () => {
      if (closed) return;
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${proto}://${location.host}/ws/${enc(id)}?after=${last}`, ["ctrl"]);
      ws.onopen = () => { delay = 500; };
      ws.onmessage = (e) => {
        let ev;
        try { ev = JSON.parse(e.data); } catch (err) { return; }
        if (typeof ev.seq !== "number") { if (ev.type === "error") toast(ev.data.message, true); return; }
        if (ev.seq <= last) return;
        last = ev.seq;
        draw(ev);
      };
      ws.onclose = () => {
        if (closed) return;
        // A deleted session stays gone; anything else (a restart, the network) comes back.
        api("GET", `/api/sessions/${enc(id)}`).then(() => {
          if (closed) return;
          timer = setTimeout(open, delay);
          delay = Math.min(delay * 2, 8000);
        }).catch((e) => {
          if (/^no session/.test(e.message)) { setStatus("deleted"); closed = true; return; }
          timer = setTimeout(open, delay);
          delay = Math.min(delay * 2, 8000);
        });
      };
    };
    open();

    const post = async () => {
      const content = input.value.trim();
      if (!content) return;
      send.disabled = true;
      try {
        const q = await api("POST", `/api/sessions/${enc(id)}/messages`, { content });
        input.value = "";
        if (q.position > 0) toast(`Queued: ${q.position} before it`);
      } catch (e) { toast(e.message, true); }
      send.disabled = false;
      input.focus();
    };
    form.addEventListener("submit", (e) => { e.preventDefault(); post(); });
    input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); post(); } });
    stop.addEventListener("click", async () => {
      try { await api("POST", `/api/sessions/${enc(id)}/interrupt`); } catch (e) { toast(e.message, true); }
    });
    remove.addEventListener("click", async () => {
      if (!confirm("Delete this session with its history?")) return;
      try { await api("DELETE", `/api/sessions/${enc(id)}`); location.hash = "#/sessions"; } catch (e) { toast(e.message, true); }
    });
    // For the tests: the socket can be dropped as a network would drop it.
    window.ctrl.dropSessionSocket = () => ws && ws.close();
    return { close: () => { closed = true; clearTimeout(timer); if (ws) ws.close(); delete window.ctrl.dropSessionSocket; } };
  }

  // ---- a desktop through the VNC bridge --------------------------------------------------
  pages.desktop = (name) => {
    const main = $("#main");
    const state = h("span", { id: "desktop-state", class: "badge" }, "connecting…");
    const screen = h("div", { id: "desktop", class: "desktop" });
    main.replaceChildren(h("h1", {}, h("a", { href: "#/sessions" }, "Sessions"), ` / desktop ${name}`), h("p", {}, state), screen);
    let rfb = null, closed = false;
    // noVNC is vendored (crates/ctrl-api/ui/vendor) and served by the daemon, like every asset.
    import("/assets/novnc.js").then(({ RFB }) => {
      if (closed) return;
      const proto = location.protocol === "https:" ? "wss" : "ws";
      rfb = new RFB(screen, `${proto}://${location.host}/vnc/${enc(name)}`, { wsProtocols: ["binary"] });
      rfb.scaleViewport = true;
      rfb.addEventListener("connect", () => { state.textContent = "connected"; state.className = "badge running"; });
      rfb.addEventListener("disconnect", (e) => {
        state.textContent = e.detail.clean ? "disconnected" : "connection lost";
        state.className = "badge error";
      });
      rfb.addEventListener("credentialsrequired", () => {
        const password = prompt("The desktop's VNC password");
        if (password !== null) rfb.sendCredentials({ password });
      });
    }).catch((e) => { state.textContent = `cannot load the viewer: ${e.message}`; });
    return { close: () => { closed = true; if (rfb) rfb.disconnect(); } };
  };
})();
