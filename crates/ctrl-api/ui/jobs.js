// Control Center dashboard: actions, jobs, schedules, backups and alerts.
// Uses app.js's helpers; every value from the daemon goes in as text.
"use strict";
(function () {
  const { S, h, $, api, toast, time, bytes, can, poll, pages } = window.ctrl;
  const enc = encodeURIComponent;
  const FINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

  function took(j) {
    if (!j.started_at) return "-";
    const end = j.completed_at ? new Date(j.completed_at) : new Date();
    return `${((end - new Date(j.started_at)) / 1000).toFixed(1)}s`;
  }
  const progressBar = (j) => j.progress === null || j.progress === undefined ? "-"
    : h("span", { class: "progress" }, h("progress", { max: "100", value: String(j.progress) }),
      ` ${j.progress_label || Math.round(j.progress) + "%"}`);
  const status = (s) => h("span", { class: `state job-${s}` }, s);

  // A form field for one parameter of an action, from its schema.
  function field(p, backups, owner) {
    const id = `param-${owner}-${p.name}`;
    let input;
    if (p.type === "enum") {
      // An optional enum without a default may be left unset.
      const none = !p.required && (p.default === null || p.default === undefined) ? h("option", { value: "" }, "—") : null;
      input = h("select", { id, name: p.name }, none, p.values.map((v) => h("option", { value: v, selected: v === p.default }, v)));
    } else if (p.type === "bool") {
      input = h("input", { id, name: p.name, type: "checkbox", checked: p.default === true });
    } else if (p.type === "int") {
      input = h("input", { id, name: p.name, type: "number", step: "1", min: p.min ?? null, max: p.max ?? null,
        value: p.default ?? null, required: p.required });
    } else if (backups) {
      input = h("select", { id, name: p.name, required: true }, backups.map((f) => h("option", { value: f.name }, `${f.name} (${bytes(f.size_bytes)})`)));
    } else {
      input = h("input", { id, name: p.name, type: "text", required: p.required, value: p.default ?? null,
        pattern: p.pattern ? p.pattern.replace(/^\^/, "").replace(/\$$/, "") : null,
        placeholder: p.type === "path" ? "a path inside its folder" : null });
    }
    return h("label", { class: "field" }, h("span", {}, p.name, p.required ? " *" : ""), input,
      p.description ? h("small", { class: "muted" }, p.description) : null);
  }

  function values(form, params) {
    const out = {};
    for (const p of params) {
      const el = form.elements[p.name];
      if (!el) continue;
      if (p.type === "bool") out[p.name] = el.checked;
      else if (p.type === "int") { if (el.value !== "") out[p.name] = Number(el.value); }
      else if (el.value !== "") out[p.name] = el.value;
    }
    return out;
  }

  pages.actions = () => {
    const list = h("div", { class: "grid wide", id: "actions" });
    $("#main").replaceChildren(h("h1", {}, "Actions"), list);
    (async () => {
      try {
        const actions = await api("GET", "/api/actions");
        const cards = await Promise.all(actions.map(async (a) => {
          const backups = a.kind === "restore" ? await api("GET", `/api/backups/${enc(a.target)}`).catch(() => []) : null;
          const allowed = can(a.role);
          const form = h("form", { class: "action-form", dataset: { action: a.name } },
            a.params.map((p) => field(p, p.name === "file" ? backups : null, a.name)),
            allowed ? h("button", { type: "submit" }, a.confirm ? "Run…" : "Run")
              : h("p", { class: "muted" }, `Needs the ${a.role} role`));
          form.addEventListener("submit", async (e) => {
            e.preventDefault();
            if (a.confirm && !confirm(`Run ${a.name}?`)) return;
            try {
              const job = await api("POST", `/api/actions/${enc(a.name)}`, { params: values(form, a.params), confirm: a.confirm });
              toast(`${a.name}: job ${job.id} queued`);
              location.hash = `#/jobs/${job.id}`;
            } catch (err) { toast(`${a.name}: ${err.message}`, true); }
          });
          return h("section", { class: "card" }, h("h3", {}, a.name), h("p", {}, a.description || a.command || a.kind),
            h("p", { class: "muted" }, `${a.kind} · ${a.role}${a.confirm ? " · asks to confirm" : ""} · timeout ${a.timeout_s}s`), form);
        }));
        list.replaceChildren(...(cards.length ? cards : [h("p", { class: "muted" }, "No actions in the config.")]));
      } catch (e) { toast(e.message, true); }
    })();
    return {};
  };

  pages.jobs = () => {
    const status_ = h("select", { id: "jobs-status", "aria-label": "Status" },
      ["", "queued", "running", "succeeded", "failed", "cancelled", "timed_out"].map((s) => h("option", { value: s }, s || "any state")));
    const body = h("tbody", {});
    $("#main").replaceChildren(h("h1", {}, "Jobs"), h("div", { class: "toolbar" }, status_),
      h("div", { class: "table-wrap" }, h("table", { id: "jobs-table" },
        h("thead", {}, h("tr", {}, ["ID", "Status", "Action", "By", "Started", "Took", "Exit", "Progress"].map((t) => h("th", {}, t)))), body)));
    const rows = new Map();
    const row = (j) => h("tr", { dataset: { id: j.id } }, h("td", { class: "num" }, h("a", { href: `#/jobs/${j.id}` }, j.id)),
      h("td", {}, status(j.status)), h("td", {}, j.action || j.job_type), h("td", {}, j.triggered_by), h("td", {}, time(j.started_at)),
      h("td", { class: "num" }, took(j)), h("td", { class: "num" }, j.exit_code ?? j.signal ?? "-"), h("td", {}, progressBar(j)));
    const put = (j) => {
      if (status_.value && j.status !== status_.value) { rows.get(j.id)?.remove(); rows.delete(j.id); return; }
      const el = row(j);
      if (rows.has(j.id)) rows.get(j.id).replaceWith(el); else body.prepend(el);
      rows.set(j.id, el);
    };
    const load = async () => {
      try {
        const list = await api("GET", `/api/jobs?limit=200${status_.value ? `&status=${status_.value}` : ""}`);
        rows.clear();
        body.replaceChildren(...list.map((j) => { const el = row(j); rows.set(j.id, el); return el; }));
      } catch (e) { toast(e.message, true); }
    };
    status_.addEventListener("change", load);
    load();
    const stop = window.ctrl.live("/api/jobs/ws", put);
    return { close: stop };
  };

  pages.job = (id) => {
    const info = h("div", { class: "card", id: "job-info" });
    const out = h("div", { class: "logs", id: "job-output", tabindex: "0", "aria-label": "Output" });
    $("#main").replaceChildren(h("h1", {}, h("a", { href: "#/jobs" }, "Jobs"), ` / ${id}`), info, h("h2", {}, "Output"), out);
    const render = (j) => {
      const kv = [["Status", status(j.status)], ["Action", j.action || j.job_type], ["Parameters", JSON.stringify(j.params)],
        ["By", j.triggered_by], ["Queued", time(j.created_at)], ["Started", time(j.started_at)], ["Took", took(j)],
        ["Exit", j.exit_code ?? j.signal ?? "-"], ["Progress", progressBar(j)],
        ["Result", j.result === null || j.result === undefined ? "-" : JSON.stringify(j.result)], ["Error", j.error || "-"]];
      const cancel = can("operator") && !FINAL.has(j.status) ? h("div", { class: "actions" }, h("button", { type: "button", class: "danger", id: "job-cancel",
        onclick: async () => {
          try { render(await api("POST", `/api/jobs/${enc(id)}/cancel`)); } catch (e) { toast(e.message, true); }
        } }, "Cancel")) : "";
      info.replaceChildren(cancel, h("dl", { class: "kv" }, kv.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
    };
    // The first answer and the stream race: an answer that comes after the job's
    // end was shown is older than it, and is dropped.
    let ended = false;
    const show = (j) => {
      if (ended && !FINAL.has(j.status)) return;
      ended = FINAL.has(j.status);
      render(j);
    };
    api("GET", `/api/jobs/${enc(id)}`).then(show).catch((e) => toast(e.message, true));
    const src = new EventSource(window.ctrl.hostPath(`/api/jobs/${enc(id)}/logs?follow=true&lines=5000`));
    // A reconnect replays the output from the start.
    src.addEventListener("open", () => out.replaceChildren());
    src.addEventListener("log", (e) => {
      const l = JSON.parse(e.data);
      if (l.line.startsWith("::progress ") || l.line.startsWith("::result ")) return;
      out.append(h("span", { class: `line ${l.stream}` }, l.ts ? h("span", { class: "ts" }, l.ts.slice(11, 23)) : null, l.line));
      while (out.childElementCount > 5000) out.firstElementChild.remove();
      out.scrollTop = out.scrollHeight;
    });
    src.addEventListener("job", (e) => {
      const j = JSON.parse(e.data);
      if (j) show(j);
      if (j && FINAL.has(j.status)) src.close();
    });
    return { close: () => src.close() };
  };

  pages.schedules = () => {
    const body = h("div", {});
    const form = h("form", { class: "stack", id: "schedule-form" });
    const preview = h("ul", { class: "muted", id: "cron-preview" });
    $("#main").replaceChildren(h("h1", {}, "Schedules"), body, ...(can("operator") ? [h("h2", {}, "Add a schedule"), form] : []));
    const load = async () => {
      try {
        const list = await api("GET", "/api/schedules");
        body.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "schedules-table" },
          h("thead", {}, h("tr", {}, ["Name", "Action", "When", "Zone", "Missed", "On", "Next runs", "Last job", "From", ""].map((t) => h("th", {}, t)))),
          h("tbody", {}, list.map((s) => h("tr", { dataset: { name: s.name } }, h("td", {}, s.name), h("td", {}, s.action),
            h("td", {}, h("code", {}, s.cron)), h("td", {}, s.timezone), h("td", {}, s.missed), h("td", {}, s.enabled ? "yes" : "no"),
            h("td", {}, s.next_runs.slice(0, 2).map((t) => h("div", {}, time(t)))),
            h("td", {}, s.last_job_id ? h("a", { href: `#/jobs/${s.last_job_id}` }, s.last_job_id) : "-"), h("td", {}, s.source),
            h("td", {}, s.source === "api" && can("operator") ? [
              h("button", { type: "button", class: "ghost", onclick: async () => {
                try { await api("PATCH", `/api/schedules/${enc(s.name)}`, { enabled: !s.enabled }); load(); } catch (e) { toast(e.message, true); }
              } }, s.enabled ? "Disable" : "Enable"),
              h("button", { type: "button", class: "danger", onclick: async () => {
                if (!confirm(`Remove schedule ${s.name}?`)) return;
                try { await api("DELETE", `/api/schedules/${enc(s.name)}`); load(); } catch (e) { toast(e.message, true); }
              } }, "Remove")] : "")))))));
      } catch (e) { toast(e.message, true); }
    };
    load();
    if (can("operator")) {
      (async () => {
        const actions = (await api("GET", "/api/actions")).filter((a) => a.kind !== "restore" && can(a.role));
        const name = h("input", { id: "schedule-name", required: true, placeholder: "nightly-backup" });
        const action = h("select", { id: "schedule-action" }, actions.map((a) => h("option", { value: a.name }, a.name)));
        const cron = h("input", { id: "schedule-cron", required: true, value: "daily@02:00", placeholder: "*/5 * * * * or daily@02:00" });
        const tz = h("input", { id: "schedule-tz", value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
        const missed = h("select", { id: "schedule-missed" }, h("option", { value: "skip" }, "skip missed runs"), h("option", { value: "run_once" }, "run once after downtime"));
        const params = h("div", { class: "params" });
        const showParams = () => {
          const a = actions.find((x) => x.name === action.value);
          params.replaceChildren(...(a ? a.params.map((p) => field(p, null, "schedule")) : []));
        };
        let timer;
        const check = () => {
          clearTimeout(timer);
          timer = setTimeout(async () => {
            try {
              const runs = await api("GET", `/api/schedules/preview?cron=${enc(cron.value)}&timezone=${enc(tz.value)}`);
              preview.replaceChildren(h("li", {}, "Next runs:"), ...runs.map((t) => h("li", {}, time(t))));
              cron.setCustomValidity("");
            } catch (e) {
              preview.replaceChildren(h("li", { class: "error" }, e.message));
              cron.setCustomValidity(e.message);
            }
          }, 250);
        };
        action.addEventListener("change", showParams);
        cron.addEventListener("input", check);
        tz.addEventListener("input", check);
        const label = (text, el) => h("label", { class: "field" }, h("span", {}, text), el);
        form.replaceChildren(label("Name", name), label("Action", action), label("When (cron or preset)", cron),
          h("small", { class: "muted" }, "5 or 6 fields (min hour day month weekday), or daily@HH:MM, weekly@sun HH:MM, monthly@1 HH:MM"),
          label("Time zone", tz), label("After downtime", missed), params, preview, h("button", { type: "submit" }, "Add schedule"));
        form.onsubmit = async (e) => {
          e.preventDefault();
          const a = actions.find((x) => x.name === action.value);
          try {
            await api("POST", "/api/schedules", { name: name.value, action: action.value, cron: cron.value, timezone: tz.value,
              missed: missed.value, params: a ? values(form, a.params) : {} });
            toast(`schedule ${name.value} added`);
            name.value = "";
            load();
          } catch (err) { toast(err.message, true); }
        };
        showParams();
        check();
      })().catch((e) => toast(e.message, true));
    }
    return {};
  };

  pages.backups = () => {
    const body = h("div", {});
    $("#main").replaceChildren(h("h1", {}, "Backups"), body);
    (async () => {
      try {
        const targets = await api("GET", "/api/backups");
        if (!targets.length) { body.replaceChildren(h("p", { class: "muted" }, "No backups yet.")); return; }
        const sections = await Promise.all(targets.map(async (t) => {
          const files = await api("GET", `/api/backups/${enc(t.target)}`);
          return h("section", { class: "card", dataset: { target: t.target } },
            h("h3", {}, `${t.target} · ${t.count} · ${bytes(t.total_bytes)}`),
            h("table", { class: "backups-table" }, h("thead", {}, h("tr", {}, ["File", "Size", "Made", "SHA-256"].map((x) => h("th", {}, x)))),
              h("tbody", {}, files.map((f) => h("tr", {},
                h("td", {}, can("operator") ? h("a", { href: window.ctrl.hostPath(`/api/backups/${enc(t.target)}/${enc(f.name)}`), download: f.name }, f.name) : f.name),
                h("td", { class: "num" }, bytes(f.size_bytes)), h("td", {}, time(f.created_at)),
                h("td", {}, h("code", { title: f.sha256 || "" }, (f.sha256 || "-").slice(0, 16))))))));
        }));
        body.replaceChildren(...sections);
      } catch (e) { toast(e.message, true); }
    })();
    return {};
  };

  pages.alerts = () => {
    const rules = h("div", {}), channels = h("div", {}), history = h("div", {});
    $("#main").replaceChildren(h("h1", {}, "Alerts"), h("h2", {}, "Rules"), rules, h("h2", {}, "Channels"), channels,
      h("h2", {}, "Sent"), history);
    const load = async () => {
      try {
        const [rs, cs, list] = await Promise.all([api("GET", "/api/alerts/rules"), api("GET", "/api/alerts/channels"), api("GET", "/api/alerts?limit=200")]);
        rules.replaceChildren(rs.length ? h("table", { id: "rules-table" }, h("thead", {}, h("tr", {}, ["Rule", "On", "Channels", "Threshold", "Firing"].map((x) => h("th", {}, x)))),
          h("tbody", {}, rs.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, r.on.join(", ")), h("td", {}, r.channels.join(", ")),
            h("td", {}, r.above === null ? "-" : `> ${r.above}% for ${r.for_s}s`),
            h("td", {}, r.firing.length ? h("span", { class: "state state-fatal" }, r.firing.join(", ")) : "no")))))
          : h("p", { class: "muted" }, "No rules in the config."));
        channels.replaceChildren(...cs.map((c) => h("div", { class: "toolbar" }, h("span", {}, `${c.name} (${c.format})`),
          can("admin") ? h("button", { type: "button", class: "ghost", dataset: { channel: c.name }, onclick: async () => {
            try {
              const a = await api("POST", "/api/alerts/test", { channel: c.name });
              const d = a.deliveries[0];
              toast(d && d.ok ? `${c.name}: delivered` : `${c.name}: ${d ? d.error : "not sent"}`, !(d && d.ok));
              load();
            } catch (e) { toast(e.message, true); }
          } }, "Send test") : null)));
        history.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "alerts-table" },
          h("thead", {}, h("tr", {}, ["When", "Rule", "Subject", "State", "Message", "Delivery"].map((x) => h("th", {}, x)))),
          h("tbody", {}, list.map((a) => h("tr", {}, h("td", {}, time(a.at)), h("td", {}, a.rule), h("td", {}, a.subject),
            h("td", {}, h("span", { class: a.state === "firing" ? "state state-fatal" : "state state-running" }, a.state)),
            h("td", {}, a.message),
            h("td", {}, a.deliveries.length ? a.deliveries.map((d) => h("div", {}, `${d.channel}: ${d.ok ? "ok" : d.error} (${d.attempts}×)`)) : "sending…")))))));
      } catch (e) { toast(e.message, true); }
    };
    return { close: poll(load, 5000) };
  };
})();
