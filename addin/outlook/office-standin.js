/* A local stand-in for the parts of Office.js the DealPulse task pane uses (preview and browser tests only).
 *
 * Like the real library, Office.onReady resolves only after DOMContentLoaded. What the "open email" and the
 * signed-in user are comes from, in order:
 *   1. window.__DEALPULSE_STANDIN__ = {item: {...}, token: "..."} (set by a test before the page loads), or
 *   2. the demo server: /demo/standin?user=<address>&item=<activity id> from this page's demo_user/demo_item
 *      query parameters (the endpoint exists only when the demo is running).
 * The preview page switches emails by posting {type: "dealpulse-standin:select", item, token} to this frame,
 * which fires ItemChanged as a pinned Outlook pane would see it.
 * Item shape: {internetMessageId, itemId, conversationId, subject, from: {displayName, emailAddress}, to: [...],
 * cc: [...], body: "plain text"}; a meeting: {itemType: "appointment", itemId, subject, organizer, requiredAttendees,
 * optionalAttendees}.
 */
"use strict";

(function () {
  const handlers = [];
  let config = { item: null, token: null };

  function asyncResult(value, error) {
    return { status: error ? "failed" : "succeeded", value: value, error: error || null };
  }

  function makeItem(data) {
    if (!data) return null;
    return {
      itemType: data.itemType || "message",
      organizer: data.organizer || null,
      requiredAttendees: data.requiredAttendees || [],
      optionalAttendees: data.optionalAttendees || [],
      internetMessageId: data.internetMessageId || "",
      itemId: data.itemId || "",
      conversationId: data.conversationId || "",
      subject: data.subject || "",
      from: data.from || null,
      sender: data.from || null,
      to: data.to || [],
      cc: data.cc || [],
      body: {
        getAsync: function (coercion, options, callback) {
          const done = typeof options === "function" ? options : callback;
          window.setTimeout(() => done(asyncResult(data.body || "")), 0);
        },
      },
    };
  }

  const mailbox = {
    item: null,
    userProfile: { emailAddress: "", displayName: "" },
    addHandlerAsync: function (type, handler, options, callback) {
      handlers.push({ type: type, handler: handler });
      const done = typeof options === "function" ? options : callback;
      if (done) done(asyncResult(undefined));
    },
  };

  function domReady() {
    if (document.readyState !== "loading") return Promise.resolve();
    return new Promise((resolve) => document.addEventListener("DOMContentLoaded", () => resolve(), { once: true }));
  }

  async function loadConfig() {
    if (window.__DEALPULSE_STANDIN__) return window.__DEALPULSE_STANDIN__;
    const params = new URLSearchParams(window.location.search);
    if (!params.get("demo_user")) return { item: null, token: null };
    const url = new URL("/demo/standin", window.location.href);
    url.searchParams.set("user", params.get("demo_user"));
    if (params.get("demo_item")) url.searchParams.set("item", params.get("demo_item"));
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return { item: null, token: null };
    return response.json();
  }

  function apply(next) {
    config = next || { item: null, token: null };
    mailbox.item = makeItem(config.item);
  }

  const ready = domReady().then(loadConfig).then((loaded) => {
    apply(loaded);
    return { host: "Outlook", platform: "PC" };
  });

  window.addEventListener("message", (event) => {
    if (event.origin !== window.location.origin || !event.data || event.data.type !== "dealpulse-standin:select") return;
    apply({ item: event.data.item, token: event.data.token || config.token });
    for (const entry of handlers) {
      if (entry.type === "olkItemSelectedChanged") entry.handler({ type: entry.type });
    }
  });

  window.Office = {
    HostType: { Outlook: "Outlook" },
    PlatformType: { PC: "PC", OfficeOnline: "OfficeOnline" },
    CoercionType: { Text: "text", Html: "html" },
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    EventType: { ItemChanged: "olkItemSelectedChanged" },
    context: {
      mailbox: mailbox,
      requirements: { isSetSupported: function () { return true; } },
      diagnostics: { host: "Outlook", platform: "PC", version: "stand-in" },
    },
    auth: {
      getAccessToken: function () {
        if (config.token) return Promise.resolve(config.token);
        const error = new Error("The user is not signed in.");
        error.code = 13001;
        return Promise.reject(error);
      },
    },
    onReady: function (callback) {
      return ready.then((info) => {
        if (typeof callback === "function") callback(info);
        return info;
      });
    },
  };
})();
