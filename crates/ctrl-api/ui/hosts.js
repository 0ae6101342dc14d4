// Control Center dashboard: the hosts behind this hub. A row per host with its
// state, last word, version, address, a CPU sparkline and its numbers, live;
// admins add hosts (the one-time token is shown once) and remove them. A host's
// name opens every other page as that host's page (the picker in the header).
// Every value from the daemon is put in the page as text.
"use strict";
(function () {
  const { h, $, api, toast, time, can, poll, pages } = window.ctrl;
  const enc = encodeURIComponent;
  const pct = (v) => (v === null || v === undefined ? "-" : `${Number(v).toFixed(0)}%`);
  const SVG = "http://www.w3.org/2000/svg";

  // A sparkline of CPU percents (0-100), oldest first.
  function spark(points) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 60 20");
    svg.setAttribute("preserveAspectRatio", "none");
    if (points.length > 1) {
      const line = document.createElementNS(SVG, "polyline");
      const step = 60 / (points.length - 1);
      line.setAttribute("points", points.map((p, i) => `${(i * step).toFixed(1)},${(20 - p / 5).toFixed(1)}`).join(" "));
      svg.append(line);
    }
    return svg;
  }

  function ago(iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }

  function row(x, reload) {
    const services = x.services ? `${x.services.running}/${x.services.total} running${x.services.failed ? `, ${x.services.failed} failed` : ""}` : "-";
    const open = h("a", { href: `?host=${enc(x.name)}#/overview`, title: `Open ${x.name}'s pages` }, x.name);
    const remove = can("admin") ? h("button", {
      type: "button", class: "ghost danger", onclick: async () => {
        if (!confirm(`Remove host ${x.name}? It is refused until added again.`)) return;
        try { await api("DELETE", `/api/hosts/${enc(x.name)}`); toast(`Host ${x.name} removed`); reload(); } catch (e) { toast(e.message, true); }
      },
    }, "Remove") : null;
    return h("tr", { dataset: { host: x.name } },
      h("td", {}, open),
      h("td", {}, h("span", { class: `badge host-${x.status}` }, x.status)),
      h("td", { title: time(x.last_seen) }, ago(x.last_seen)),
      h("td", {}, x.version || "-"),
      h("td", {}, x.address || "-"),
      h("td", {}, spark(x.cpu_history || [])),
      h("td", {}, pct(x.stats && x.stats.cpu_percent)),
      h("td", {}, pct(x.stats && x.stats.memory_percent)),
      h("td", {}, pct(x.stats && x.stats.disk_percent)),
      h("td", {}, services),
      h("td", {}, remove));
  }

  pages.hosts = () => {
    const body = h("tbody", {});
    const table = h("div", { class: "table-wrap" }, h("table", { id: "hosts-table" },
      h("thead", {}, h("tr", {}, ["Host", "Status", "Last seen", "Version", "Address", "CPU", "", "Memory", "Disk", "Services", ""].map((c) => h("th", {}, c)))),
      body));
    const empty = h("p", { class: "muted", hidden: true }, "No hosts yet. Add one, then put its token in the host's [hub] enroll_token_file.");
    const load = async () => {
      try {
        const list = await api("GET", "/api/hosts");
        body.replaceChildren(...list.map((x) => row(x, load)));
        empty.hidden = list.length > 0;
      } catch (e) { toast(e.message, true); }
    };
    const parts = [h("h1", {}, "Hosts"), table, empty];
    if (can("admin")) {
      const name = h("input", { id: "host-name", placeholder: "name, like web-1", required: true, "aria-label": "Host name" });
      const expires = h("input", { id: "host-expires", placeholder: "1h", "aria-label": "Token expires in" });
      const shown = h("div", { id: "host-token" });
      const form = h("form", { class: "toolbar", onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const e = await api("POST", "/api/hosts", { name: name.value, expires: expires.value || null });
          const snippet = `[hub]\nurl = "${location.origin}"\nenroll_token_file = "hub.enroll"\nname = "${e.name}"`;
          shown.replaceChildren(h("p", {}, `Host ${e.name} added. Its one-time token (shown once, until ${time(e.expires_at)}):`),
            h("pre", { class: "json", id: "host-token-value" }, e.enroll_token),
            h("p", {}, "Put it in hub.enroll beside the host's ctrl.toml, and add:"),
            h("pre", { class: "json" }, snippet));
          name.value = expires.value = "";
          load();
        } catch (err) { toast(err.message, true); }
      } }, name, expires, h("button", { type: "submit" }, "Add host"));
      parts.push(h("h2", {}, "Add a host"), form, shown);
    }
    $("#main").replaceChildren(...parts);
    const stop = poll(load, 3000);
    return { close: stop };
  };
})();
