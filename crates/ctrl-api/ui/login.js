// The login page: posts the form as JSON and goes to the dashboard on success.
"use strict";
(function () {
  const theme = localStorage.getItem("ctrl-theme");
  if (theme) document.documentElement.dataset.theme = theme;
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const body = { username: form.username.value, password: form.password.value };
    try {
      const res = await fetch("/api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      const env = await res.json();
      if (env.success) {
        location.href = "/";
        return;
      }
      error.textContent = env.error || "Login failed";
    } catch (e) {
      error.textContent = "The daemon cannot be reached.";
    }
    error.hidden = false;
    form.password.select();
  });
})();
