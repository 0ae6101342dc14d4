// The login page: posts the form as JSON and goes to the dashboard on success.
"use strict";
(function () {
  const theme = localStorage.getItem("ctrl-theme");
  if (theme) document.documentElement.dataset.theme = theme;
  // Posts `body` to `path`; on success goes to the dashboard, else shows the error.
  async function submit(path, body, error, fallback) {
    error.hidden = true;
    try {
      const res = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      const env = await res.json();
      if (env.success) {
        location.href = "/";
        return true;
      }
      error.textContent = env.error || fallback;
    } catch (e) {
      error.textContent = "The daemon cannot be reached.";
    }
    error.hidden = false;
    return false;
  }

  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { username: form.username.value, password: form.password.value };
    if (!(await submit("/api/auth/login", body, error, "Login failed"))) form.password.select();
  });

  // The one-time link `ctrl up` printed: /login#once=SECRET. The secret is in the
  // fragment, so it never reaches a server log; it leaves the address bar at once.
  const once = new URLSearchParams(location.hash.slice(1)).get("once");
  if (!once) return;
  history.replaceState(null, "", "/login");
  const first = document.getElementById("first-admin-form");
  const firstError = document.getElementById("first-admin-error");
  form.hidden = true;
  first.hidden = false;
  first.password.focus();
  first.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (first.password.value !== first.again.value) {
      firstError.textContent = "The two passwords differ.";
      firstError.hidden = false;
      return;
    }
    const body = { token: once, username: first.username.value, password: first.password.value };
    await submit("/api/auth/first-admin", body, firstError, "The admin could not be created");
  });
})();
