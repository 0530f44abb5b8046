/* The demo preview: lists the chosen user's captured emails and opens each in the task pane frame. */
"use strict";

(function () {
  const users = document.getElementById("as-user");
  const list = document.getElementById("emails");
  const status = document.getElementById("mail-status");
  const frame = document.getElementById("pane");
  let token = null;
  let paneReady = false;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function open(entry, button) {
    for (const other of list.querySelectorAll("button")) other.setAttribute("aria-current", "false");
    button.setAttribute("aria-current", "true");
    if (!paneReady) {
      const url = new URL("/addin/outlook/taskpane-preview.html", window.location.href);
      url.searchParams.set("demo_user", users.value);
      url.searchParams.set("demo_item", String(entry.activity_id));
      frame.src = url.toString();
      paneReady = true;
      return;
    }
    frame.contentWindow.postMessage({ type: "dealpulse-standin:select", item: entry.item, token: token }, window.location.origin);
  }

  async function loadEmails() {
    list.replaceChildren();
    paneReady = false;
    frame.src = "about:blank";
    status.textContent = "Loading…";
    const response = await fetch("/demo/emails?user=" + encodeURIComponent(users.value), { cache: "no-store" });
    if (!response.ok) { status.textContent = "Could not load the mailbox (" + response.status + ")."; return; }
    const data = await response.json();
    token = data.token;
    status.textContent = data.items.length ? data.items.length + " emails" : "No emails captured for this user yet: run the demo sync.";
    for (const entry of data.items) {
      const button = el("button", null);
      button.type = "button";
      button.setAttribute("aria-current", "false");
      button.append(el("span", "subject", entry.subject || "(no subject)"),
        el("span", "meta", (entry.direction === "inbound" ? "From " : "To customer · from ") + entry.from + " · " + new Date(entry.occurred_at).toLocaleString() + (entry.tone ? " · " + entry.tone : "")));
      button.addEventListener("click", () => open(entry, button));
      list.append(el("li", null, undefined));
      list.lastChild.append(button);
    }
  }

  async function start() {
    const response = await fetch("/demo/users", { cache: "no-store" });
    const data = await response.json();
    for (const user of data.items) {
      const option = el("option", null, user.name + " (" + user.role + ")");
      option.value = user.email;
      users.append(option);
    }
    users.addEventListener("change", loadEmails);
    if (data.items.length) loadEmails();
  }

  start();
})();
