/* DealPulse task pane: reads the open email with Office.js, asks the backend for its deal, edits it in place.
 *
 * Every piece of email or deal content is put into the page with textContent / DOM APIs, never as HTML,
 * so a subject or body carrying markup stays inert. No inline scripts or styles (strict CSP).
 * Sign-in: nested app authentication when MSAL.js is loaded beside this file (window.msal), else Office SSO
 * (Office.auth.getAccessToken); the token goes to our API as a bearer token, never in a URL.
 */
"use strict";

(function () {
  const API = new URL("../../api/v1/", window.location.href);
  const MAX_BODY = 100000;
  const ROLE_NAMES = {
    economic_buyer: "Economic buyer", champion: "Champion", technical_evaluator: "Technical evaluator",
    decision_maker: "Decision maker", influencer: "Influencer", blocker: "Blocker", procurement: "Procurement",
    legal: "Legal", user: "User",
  };
  const TONE_NAMES = { negative: "Negative", neutral: "Neutral", positive: "Positive" };
  const BAD_MAILBOX_STATES = ["needs_reconnect", "disconnected", "provider_error"];
  const PRIORITY_NAMES = { high: "High", medium: "Medium", low: "Low" };
  const state = {
    token: null, context: null, pending: null, conflict: null, offline: false, query: null, needsDeal: [],
    seq: 0, // which load the pane shows: a response to an older load (a previous email) is dropped
    open: new Set(), // editors the rep opened (kept open across re-renders)
    flash: null, // {id, text}: a save's confirmation, written into its status line after the re-render
  };
  let saveChain = Promise.resolve(); // saves run one after another, each with the version the previous one left


  class OfflineError extends Error {}
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.detail) || "HTTP " + status);
      this.status = status;
      this.body = body || {};
    }
  }

  // ---------------------------------------------------------------- DOM helpers
  function $(id) { return document.getElementById(id); }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function announce(message) {
    const live = $("live");
    live.textContent = "";
    window.setTimeout(() => { live.textContent = message; }, 30);
  }

  function showLoading() {
    $("pane").setAttribute("aria-busy", "true");
    $("state").hidden = true;
    $("content").hidden = true;
    $("skeleton").hidden = false;
  }

  function showState(title, detail, action) {
    $("pane").setAttribute("aria-busy", "false");
    $("skeleton").hidden = true;
    $("content").hidden = true;
    $("banners").replaceChildren();
    $("state").hidden = false;
    $("state-title").textContent = title;
    $("state-detail").textContent = detail || "";
    const button = $("state-action");
    button.hidden = !action;
    button.onclick = null;
    if (action) {
      button.textContent = action.label;
      button.onclick = action.run;
    }
    announce(title);
  }

  function showContent() {
    $("pane").setAttribute("aria-busy", "false");
    $("state").hidden = true;
    $("skeleton").hidden = true;
    $("content").hidden = false;
  }

  // ---------------------------------------------------------------- formatting
  function money(amount, currency) {
    const value = Number(amount);
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency, maximumFractionDigits: 0 }).format(value);
    } catch (e) {
      return amount + " " + currency;
    }
  }

  function ago(iso) {
    if (!iso) return "never";
    const days = Math.round((Date.parse(iso) - Date.now()) / 86400000);
    const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    if (Math.abs(days) >= 1) return format.format(days, "day");
    const hours = Math.round((Date.parse(iso) - Date.now()) / 3600000);
    return format.format(hours, "hour");
  }

  function valueText(value) {
    if (value === null || value === undefined || value === "") return "(empty)";
    if (value === true) return "yes";
    if (value === false) return "no";
    return String(value);
  }

  // ---------------------------------------------------------------- sign-in and API
  let naaApp = null;

  async function getToken(interactive) {
    if (window.msal && typeof window.msal.createNestablePublicClientApplication === "function" && window.DEALPULSE_NAA) {
      naaApp = naaApp || await window.msal.createNestablePublicClientApplication(window.DEALPULSE_NAA.config);
      const request = { scopes: window.DEALPULSE_NAA.scopes };
      try {
        return (await naaApp.acquireTokenSilent(request)).accessToken;
      } catch (error) {
        if (!interactive) throw error;
        return (await naaApp.acquireTokenPopup(request)).accessToken;
      }
    }
    return Office.auth.getAccessToken({ allowSignInPrompt: interactive, allowConsentPrompt: interactive, forMSGraphAccess: false });
  }

  async function api(method, path, body) {
    if (navigator.onLine === false) throw new OfflineError("offline");
    let response;
    try {
      response = await fetch(new URL(path, API), {
        method: method,
        headers: { "Authorization": "Bearer " + state.token, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw new OfflineError(String(error));
    }
    let data = {};
    try { data = await response.json(); } catch (error) { data = {}; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function showSignIn() {
    state.token = null;
    showState("Sign in to DealPulse", "DealPulse needs you to sign in with your work account to show this email's deal.", {
      label: "Sign in",
      run: async () => {
        try {
          state.token = await getToken(true);
          load();
        } catch (error) {
          showState("Sign-in did not complete", "Try again, or ask your admin to approve DealPulse for your organisation.",
            { label: "Try again", run: showSignIn });
        }
      },
    });
  }

  function handleError(error) {
    if (error instanceof OfflineError) {
      state.offline = true;
      showState("You're offline", "DealPulse will load this email's deal as soon as you're back online.", { label: "Try again", run: load });
      return;
    }
    if (error instanceof ApiError && error.status === 401) {
      if (/No active DealPulse user/.test(error.body.detail || "")) {
        showState("No DealPulse account for this mailbox", "Your email address is not set up in DealPulse. Ask your DealPulse admin to add you.");
      } else {
        showSignIn();
      }
      return;
    }
    const detail = error instanceof ApiError ? "DealPulse answered " + error.status + ": " + error.message : String(error.message || error);
    showState("Something went wrong", detail, { label: "Try again", run: load });
  }

  // ---------------------------------------------------------------- reading the open email
  function addressOf(recipient) {
    if (!recipient || !recipient.emailAddress) return "";
    return recipient.displayName ? recipient.displayName + " <" + recipient.emailAddress + ">" : recipient.emailAddress;
  }

  function bodyText(item) {
    return new Promise((resolve) => {
      if (!item.body || typeof item.body.getAsync !== "function") { resolve(null); return; }
      item.body.getAsync(Office.CoercionType.Text, {}, (result) => {
        resolve(result.status === Office.AsyncResultStatus.Succeeded ? String(result.value || "").slice(0, MAX_BODY) : null);
      });
    });
  }

  async function readItem() {
    const item = Office.context && Office.context.mailbox && Office.context.mailbox.item;
    if (!item) return null;
    if (item.itemType === "appointment") {
      // A meeting: found by its provider id; the organiser and attendees stand in for sender and recipients.
      return {
        message_id: "",
        provider_id: item.itemId || "",
        provider_thread_id: "",
        from: addressOf(item.organizer),
        to: (item.requiredAttendees || []).map(addressOf).filter(Boolean),
        cc: (item.optionalAttendees || []).map(addressOf).filter(Boolean),
        subject: item.subject || "",
        body: null,
      };
    }
    return {
      message_id: item.internetMessageId || "",
      provider_id: item.itemId || "",
      provider_thread_id: item.conversationId || "",
      from: addressOf(item.from),
      to: (item.to || []).map(addressOf).filter(Boolean),
      cc: (item.cc || []).map(addressOf).filter(Boolean),
      subject: item.subject || "",
      body: await bodyText(item),
    };
  }

  async function load() {
    const seq = ++state.seq; // a newer load (another email) makes this one's answers stale
    showLoading();
    state.pending = null;
    state.conflict = null;
    state.flash = null;
    if (!state.token) {
      try {
        state.token = await getToken(false);
      } catch (error) {
        if (seq === state.seq) showSignIn();
        return;
      }
    }
    const query = await readItem();
    if (seq !== state.seq) return;
    if (!query) {
      showState("Open an email", "Select an email to see the deal it belongs to.");
      return;
    }
    state.query = query;
    try {
      const context = await api("POST", "context", query);
      if (seq !== state.seq) { dropped(); return; } // the rep moved on to another email meanwhile
      state.context = context;
      state.offline = false;
      render();
      loadNeedsDeal();
      announce(state.context.opportunity ? "Deal loaded: " + state.context.opportunity.name : "Email loaded");
    } catch (error) {
      if (seq === state.seq) handleError(error);
    }
  }

  function current(seq) { return seq === state.seq; }

  function dropped() {
    // Count the answers dropped because they belonged to an email no longer open (visible to tests and devtools).
    const pane = $("pane");
    pane.dataset.staleDropped = String(Number(pane.dataset.staleDropped || 0) + 1);
  }

  async function refresh(focusId) {
    // Re-read the email's context after a change: alerts, dynamics and the buying team as the server now sees them.
    const seq = state.seq;
    try {
      const context = await api("POST", "context", state.query);
      if (!current(seq)) return;
      state.context = context;
    } catch (error) {
      // keep what we have; the change itself was saved
    }
    if (current(seq)) render(focusId);
  }

  function queued(task) {
    // One save at a time: the next one reads the version the previous one left, so the rep never conflicts with
    // their own in-flight save.
    const run = saveChain.then(task, task);
    saveChain = run.catch(() => undefined);
    return run;
  }

  function confirm(id, text) {
    // A save's confirmation: visible in the section's status line (kept across the re-render) and announced.
    state.flash = { id: id, text: text };
    const line = $(id);
    if (line) line.textContent = text;
    announce(text);
  }

  async function loadNeedsDeal() {
    const seq = state.seq;
    let items;
    try {
      items = (await api("GET", "threads/needs-deal")).items || [];
    } catch (error) {
      items = [];
    }
    if (!current(seq)) return;
    state.needsDeal = items;
    const old = $("needs-deal");
    if (old) old.replaceWith(renderNeedsDeal());
    else if (!$("content").hidden) $("content").append(renderNeedsDeal());
  }

  // ---------------------------------------------------------------- rendering
  function render(focusId) {
    const c = state.context;
    const root = $("content");
    root.replaceChildren();
    renderBanners(c);
    // The verdict first: the email's tone, the deal's state, its alerts and action items; editors below, collapsed.
    if (c.email.meeting) root.append(renderMeetingOutcome(c));
    else root.append(renderTone(c));
    if (c.status === "matched") {
      root.append(renderState(c));
      if (c.suggestions && c.suggestions.length) root.append(renderSuggestions(c));
      if (c.alerts && c.alerts.length) root.append(renderAlerts(c.alerts));
      root.append(renderActionItems(c));
      root.append(renderYourReading(c));
      if (state.conflict) root.append(renderConflict());
      root.append(editor("deal-editor", "Edit deal: stage, amount, close date, next step", renderDeal(c), !!(state.conflict || state.pending)));
      root.append(editor("exit-editor", "Exit questions: " + c.opportunity.stage.name + answeredCount(c.opportunity), renderExitQuestions(c)));
      root.append(editor("team-editor", "Buying team (" + (c.opportunity.buying_team || []).length + ")",
        c.contact ? renderRole(c) : null, renderTeam(c)));
      root.append(renderRelink(c, "Wrong deal?"));
    } else if (c.status === "choose") {
      root.append(renderChooser(c));
    } else if (c.status === "not_a_deal") {
      root.append(el("section", { class: "card", id: "not-a-deal-card" },
        el("h2", { text: "Not a deal" }),
        el("p", { class: "muted", text: "You marked this conversation as not a deal: it counts toward none." })));
      root.append(renderRelink(c, "Link it to a deal after all"));
    } else if (c.status === "no_deal") {
      root.append(renderNoDeal(c));
    } else {
      root.append(el("section", { class: "card", id: "no-customer" },
        el("h2", { text: "No known customer in this email" }),
        el("p", { class: "muted", text: "None of the participants is a contact or from an account in DealPulse, so this email is not linked to a deal." })));
    }
    if (c.status !== "matched") root.append(renderYourReading(c));
    root.append(renderWho(c));
    if (c.email.captured) root.append(editor("notes-editor", "Notes (" + (c.email.content_hidden ? "private" : c.email.notes.length) + ")", renderNotes(c)));
    if (c.timeline) root.append(renderTimeline(c));
    root.append(renderNeedsDeal());
    showContent();
    if (state.flash && $(state.flash.id)) $(state.flash.id).textContent = state.flash.text;
    state.flash = null;
    if (focusId && $(focusId)) $(focusId).focus();
  }

  function editor(id, title, ...children) {
    // A collapsed editor; it stays open across re-renders once the rep opened it (or `force` opens it).
    let force = false;
    if (typeof children[children.length - 1] === "boolean") force = children.pop();
    const box = el("details", { class: "card editor", id: id, open: force || state.open.has(id) }, el("summary", { text: title }), ...children);
    box.addEventListener("toggle", () => { if (box.open) state.open.add(id); else state.open.delete(id); });
    return box;
  }

  function answeredCount(opp) {
    const questions = opp.exit_questions || [];
    if (!questions.length) return "";
    return " (" + questions.filter((q) => q.answer !== null).length + " of " + questions.length + " answered)";
  }

  function shortDate(iso) {
    if (!iso) return "";
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    return new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }).format(Date.UTC(y, m - 1, d));
  }

  const BAND_NAMES = { good: "good", watch: "watch", at_risk: "at risk" };

  function renderState(c) {
    // The deal's state in one line under its name: stage, amount, close date, health.
    const opp = c.opportunity;
    const health = c.health;
    return el("section", { class: "card state-line", id: "deal-state", "aria-labelledby": "deal-name" },
      el("h2", { id: "deal-name", text: opp.name }),
      el("p", { id: "deal-facts" },
        el("span", { text: opp.stage.name }), " · ",
        el("span", { text: money(opp.amount, opp.currency) }), " · ",
        el("span", { text: opp.close_date ? "closes " + shortDate(opp.close_date) : "no close date" }),
        health ? el("span", { class: "health " + health.band, id: "deal-health",
          text: "Health " + health.score + " (" + (BAND_NAMES[health.band] || health.band) + ")" }) : null),
      el("p", { class: "muted", text: (opp.owner ? opp.owner.name : "") + (opp.next_step ? " · Next: " + opp.next_step : "") }));
  }

  function suggestionText(c, s) {
    // "Close date → 31 Mar 2027", "Amount → €54,000", "Within budget? → Yes".
    if (s.field === "close_date") return "Close date → " + shortDate(s.value);
    if (s.field === "amount") return "Amount → " + money(s.value, s.currency || c.opportunity.currency);
    if (s.field === "seats") return "Seats → " + s.value;
    const q = (c.opportunity.exit_questions || []).find((e) => "exit." + e.key === s.field);
    return (q ? q.text : s.field) + " → Yes";
  }

  function renderSuggestions(c) {
    // Updates the buyer's own words suggest, each with the sentence as evidence and one click to apply.
    const section = el("section", { class: "card", id: "suggestions", "aria-labelledby": "suggestions-title" },
      el("h3", { id: "suggestions-title", text: "Suggested from this email (" + c.suggestions.length + ")" }));
    const list = el("ul", { class: "items" });
    c.suggestions.forEach((s, i) => {
      const label = suggestionText(c, s);
      list.append(el("li", { "data-field": s.field },
        el("span", { class: "obstacle", text: label }),
        el("q", { class: "muted evidence", text: s.evidence }),
        el("button", { type: "button", id: "suggestion-apply-" + i, text: "Apply", "aria-label": "Apply: " + label,
          onclick: () => applySuggestion(s, label) })));
    });
    section.append(list, el("p", { class: "muted", id: "suggestions-status", role: "status" }));
    return section;
  }

  function applySuggestion(s, label) {
    const body = { field: s.field, value: s.value, evidence: s.evidence };
    if (s.currency) body.currency = s.currency;
    return guardedSave("opportunities/" + state.context.opportunity.id + "/suggestions/accept", "POST", body,
      "suggestions-title", "suggestions-status", "Applied: " + label);
  }

  function renderActionItems(c) {
    const items = c.action_items || [];
    const section = el("section", { class: "card", id: "action-items", "aria-labelledby": "actions-title" },
      el("h3", { id: "actions-title", text: "Action items (" + items.length + ")" }));
    if (!items.length) {
      section.append(el("p", { class: "muted", text: "No open action items on this deal." }),
        el("p", { class: "muted", id: "items-status", role: "status" }));
      return section;
    }
    const list = el("ul", { class: "items" });
    for (const item of items) {
      list.append(el("li", { class: item.overdue ? "overdue" : "", "data-id": String(item.id) },
        el("span", { class: "obstacle", text: item.obstacle }),
        el("span", { class: "muted", text: item.owner + " · due " + shortDate(item.due_date) + " · " + (PRIORITY_NAMES[item.priority] || item.priority) + " priority" }),
        item.overdue ? el("strong", { class: "late", text: "Overdue" }) : null,
        el("button", { type: "button", class: "secondary", id: "item-done-" + item.id, text: "Done",
          "aria-label": "Mark done: " + item.obstacle, onclick: () => closeItem(item, "done") })));
    }
    section.append(list, el("p", { class: "muted", id: "items-status", role: "status" }));
    return section;
  }

  function closeItem(item, status) {
    return queued(async () => {
      const seq = state.seq;
      try {
        await api("PATCH", "action-items/" + item.id, { status: status });
        if (!current(seq)) return;
        state.flash = { id: "items-status", text: "Marked " + status + ": " + item.obstacle };
        await refresh("actions-title");
        announce("Marked " + status + ": " + item.obstacle);
      } catch (error) {
        if (current(seq)) handleError(error);
      }
    });
  }

  function renderBanners(c) {
    const banners = $("banners");
    banners.replaceChildren();
    for (const box of c.mailboxes || []) {
      if (BAD_MAILBOX_STATES.includes(box.state)) {
        banners.append(el("p", { class: "banner warning", role: "alert" },
          "Your mailbox " + box.address + " is disconnected from DealPulse, so new emails are not captured. Reconnect it in DealPulse."));
      }
    }
    if (c.thread_private || c.email.is_private) {
      banners.append(el("p", { class: "banner info", text: "Private thread: managers see only that it exists, not its content." }));
    }
  }

  function renderWho(c) {
    const parts = [];
    if (c.contact) parts.push(c.contact.name || c.contact.email, c.contact.title);
    if (c.account) parts.push(c.account.name);
    return el("p", { class: "muted", id: "who" }, parts.filter(Boolean).join(" · ") || "Unknown sender");
  }

  function renderAlerts(alerts) {
    const list = el("ul", { class: "alerts", "aria-label": "Open alerts on this deal" });
    for (const alert of alerts) {
      list.append(el("li", { class: "alert " + alert.severity }, el("strong", { text: alert.severity === "critical" ? "Alert: " : "Warning: " }), alert.reason));
    }
    return el("section", { id: "alerts" }, el("h3", { text: "Alerts" }), list);
  }

  // The rep's forecast call on a deal (the forecast roll-up's commit / best case / pipeline columns).
  const FORECAST_CATEGORIES = [["pipeline", "Pipeline"], ["best_case", "Best case"], ["commit", "Commit"], ["omitted", "Omitted"]];

  function stageOptions(c, selected, openOnly) {
    return c.stages.filter((s) => !openOnly || !s.is_closed).map((s) => el("option", { value: s.key, text: s.name, selected: s.key === selected }));
  }

  function renderDeal(c) {
    const opp = c.opportunity;
    const pending = state.pending || {};
    const shown = Object.assign({ stage: opp.stage.key, amount: opp.amount, close_date: opp.close_date || "", next_step: opp.next_step,
      forecast_category: opp.forecast_category || "pipeline" }, pending);
    const form = el("form", { id: "deal-form", novalidate: true, "aria-label": "Edit " + opp.name },
      el("label", { for: "f-stage", text: "Stage" }),
      el("select", { id: "f-stage", name: "stage" }, ...stageOptions(c, shown.stage, false)),
      el("div", { class: "row" },
        el("div", {}, el("label", { for: "f-amount", text: "Amount (" + opp.currency + ")" }),
          el("input", { id: "f-amount", name: "amount", type: "number", min: "0", step: "0.01", inputmode: "decimal", value: shown.amount })),
        el("div", {}, el("label", { for: "f-close", text: "Close date" }),
          el("input", { id: "f-close", name: "close_date", type: "date", value: shown.close_date }))),
      el("label", { for: "f-next", text: "Next step" }),
      el("input", { id: "f-next", name: "next_step", maxlength: "500", value: shown.next_step }),
      el("label", { for: "f-category", text: "Forecast category" }),
      el("select", { id: "f-category", name: "forecast_category" },
        ...FORECAST_CATEGORIES.map(([key, label]) => el("option", { value: key, text: label, selected: key === shown.forecast_category }))),
      el("div", { class: "actions" },
        el("button", { type: "submit", id: "save-deal", text: "Save deal" }),
        el("span", { class: "muted", id: "deal-status", role: "status" })));
    form.addEventListener("submit", (event) => { event.preventDefault(); saveDeal(form); });
    return el("div", { id: "deal" }, form);
  }

  function formChanges(form) {
    const opp = state.context.opportunity;
    const values = {
      stage: form.elements.stage.value,
      amount: form.elements.amount.value,
      close_date: form.elements.close_date.value || null,
      next_step: form.elements.next_step.value,
      forecast_category: form.elements.forecast_category.value,
    };
    const changes = {};
    if (values.stage !== opp.stage.key) changes.stage = values.stage;
    if (values.amount !== "" && Number(values.amount) !== Number(opp.amount)) changes.amount = values.amount;
    if ((values.close_date || null) !== (opp.close_date || null)) changes.close_date = values.close_date;
    if (values.next_step !== opp.next_step) changes.next_step = values.next_step;
    if (values.forecast_category !== (opp.forecast_category || "pipeline")) changes.forecast_category = values.forecast_category;
    return changes;
  }

  function saveDeal(form) {
    const changes = formChanges(form);
    if (Object.keys(changes).length === 0) {
      confirm("deal-status", "Nothing changed.");
      return Promise.resolve();
    }
    return patchDeal(changes);
  }

  function patchDeal(changes) {
    if ($("save-deal")) $("save-deal").disabled = true;
    return queued(async () => {
      const seq = state.seq;
      const opp = state.context.opportunity; // read now: the version any earlier save of mine left
      try {
        const saved = await api("PATCH", "opportunities/" + opp.id, Object.assign({ version: opp.version }, changes));
        if (!current(seq)) return;
        state.context.opportunity = saved;
        state.pending = null;
        state.conflict = null;
        state.flash = { id: "deal-status", text: "Saved." };
        await refresh("save-deal"); // the edit re-evaluated the deal's alerts: show them
        announce("Deal saved: " + Object.keys(changes).map((f) => f.replace(/_/g, " ")).join(", "));
      } catch (error) {
        if (!current(seq)) return;
        if (error instanceof ApiError && (error.status === 409 || error.status === 412) && error.body.current) {
          // Show the deal as it is now underneath, with my changes on top of it, and say what the other person did.
          state.pending = changes;
          state.conflict = error.body;
          state.context.opportunity = error.body.current;
          state.open.add("deal-editor");
          await refresh("conflict-title");
          announce("Not saved: someone else changed this deal. The form shows their values with your changes on top.");
        } else if (error instanceof ApiError && error.status === 422) {
          if ($("save-deal")) $("save-deal").disabled = false;
          const errors = (error.body.errors || []).map((e) => e.field + ": " + e.message).join("; ");
          confirm("deal-status", "Not saved — " + (errors || error.message));
        } else {
          if ($("save-deal")) $("save-deal").disabled = false;
          handleError(error);
        }
      }
    });
  }

  function renderConflict() {
    const conflict = state.conflict;
    const theirs = el("ul", {});
    for (const change of conflict.changes_since || []) {
      const who = change.actor ? change.actor.name : "Someone";
      theirs.append(el("li", { text: who + " changed " + change.field.replace(/_/g, " ") + " from " + valueText(change.old) + " to " + valueText(change.new) + " (" + ago(change.changed_at) + ")" }));
    }
    const mine = el("ul", {});
    for (const [field, value] of Object.entries(state.pending || {})) {
      mine.append(el("li", { text: field.replace(/_/g, " ") + " → " + valueText(value) }));
    }
    return el("section", { class: "card conflict", id: "conflict", role: "alert", "aria-labelledby": "conflict-title" },
      el("h2", { id: "conflict-title", tabindex: "-1", text: "Someone else changed this deal" }),
      el("p", { text: "Your changes were not saved yet. Their changes:" }), theirs,
      el("p", { text: "Your changes, still in the form below:" }), mine,
      el("div", { class: "actions" },
        el("button", { type: "button", id: "reapply", text: "Save mine on top", onclick: () => {
          const form = $("deal-form");
          patchDeal(form ? formChanges(form) : state.pending);
        } }),
        el("button", { type: "button", class: "secondary", id: "discard", text: "Discard mine", onclick: () => {
          state.pending = null;
          state.conflict = null;
          render("f-stage");
          confirm("deal-status", "Your changes were discarded; the form shows the latest version.");
        } })));
  }

  function answerValue(answer) { return answer === true ? "yes" : answer === false ? "no" : ""; }

  function renderExitQuestions(c) {
    const opp = c.opportunity;
    const section = el("fieldset", { id: "exit-questions" }, el("legend", { text: "Exit questions of " + opp.stage.name }));
    if (!opp.exit_questions.length) {
      section.append(el("p", { class: "muted", text: "This stage has no exit questions." }));
      return section;
    }
    const list = el("ul", { class: "exit" });
    for (const q of opp.exit_questions) {
      const id = "q-" + q.key;
      const select = el("select", { id: id, "data-key": q.key },
        el("option", { value: "", text: "Not answered", selected: q.answer === null }),
        el("option", { value: "yes", text: "Yes", selected: q.answer === true }),
        el("option", { value: "no", text: "No", selected: q.answer === false }));
      commitSelect(select, () => answerValue(currentAnswer(q.key)), (value) => saveAnswer(q, value, id));
      list.append(el("li", {}, el("label", { for: id, text: q.text }), select));
    }
    section.append(list, el("p", { class: "muted", id: "exit-status", role: "status" }));
    return section;
  }

  function commitSelect(select, savedValue, save) {
    // Keyboard-safe: arrow keys only move the choice; Enter or leaving the field saves it. A pick with the mouse
    // saves after a short pause (debounced). A value already saved or being saved is never sent again.
    let keyed = false;
    let timer = null;
    let sending = null;
    const commit = () => {
      window.clearTimeout(timer);
      timer = null;
      keyed = false;
      const value = select.value;
      if (value === savedValue() || value === sending) return;
      sending = value;
      Promise.resolve(save(value)).finally(() => { sending = null; });
    };
    select.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); commit(); return; }
      if (event.key !== "Tab" && event.key !== "Shift" && event.key !== "Escape") keyed = true;
    });
    select.addEventListener("change", () => {
      window.clearTimeout(timer);
      if (keyed) return; // keyboard stepping: wait for Enter or leaving the field
      timer = window.setTimeout(commit, 300);
    });
    select.addEventListener("blur", commit);
  }

  function currentAnswer(key) {
    const q = (state.context.opportunity.exit_questions || []).find((e) => e.key === key);
    return q ? q.answer : null;
  }

  function guardedSave(path, method, body, focusId, statusId, okMessage) {
    return queued(async () => {
      const seq = state.seq;
      const opp = state.context.opportunity; // read now: the version any earlier save of mine left
      try {
        const saved = await api(method, path, Object.assign({ version: opp.version }, body));
        if (!current(seq)) return;
        state.context.opportunity = saved;
        state.flash = { id: statusId, text: okMessage };
        await refresh(focusId);
        announce(okMessage);
      } catch (error) {
        if (!current(seq)) return;
        if (error instanceof ApiError && (error.status === 409 || error.status === 412) && error.body.current) {
          state.context.opportunity = error.body.current;
          const who = (error.body.changes_since || []).map((c) => (c.actor ? c.actor.name : "Someone")).filter((v, i, a) => a.indexOf(v) === i).join(", ");
          const message = (who || "Someone") + " changed this deal meanwhile; your choice was not saved. The latest values are shown — choose again.";
          state.flash = { id: statusId, text: message };
          render(focusId);
          announce(message);
        } else if (error instanceof ApiError && error.status === 422) {
          confirm(statusId, "Not saved — " + error.message);
        } else {
          handleError(error);
        }
      }
    });
  }

  function saveAnswer(question, value, focusId) {
    const answer = value === "yes" ? true : value === "no" ? false : null;
    const answers = {};
    answers[question.key] = answer;
    return guardedSave("opportunities/" + state.context.opportunity.id + "/exit-answers", "PUT", { answers: answers }, focusId,
      "exit-status", "Saved: " + question.text + " — " + (answer === true ? "Yes" : answer === false ? "No" : "Not answered"));
  }

  function renderRole(c) {
    const current = (c.opportunity.buying_team || []).find((m) => m.contact_id === c.contact.id);
    const select = el("select", { id: "f-role" },
      el("option", { value: "", text: "Not on the buying team", selected: !current }),
      ...c.buying_roles.map((r) => el("option", { value: r, text: ROLE_NAMES[r] || r, selected: current && current.role === r })));
    const currentRole = () => {
      const m = (state.context.opportunity.buying_team || []).find((t) => t.contact_id === c.contact.id);
      return m ? m.role : "";
    };
    commitSelect(select, currentRole, (value) => guardedSave(
      "opportunities/" + c.opportunity.id + "/buying-team/" + c.contact.id, "PUT", { role: value || null }, "f-role", "role-status",
      "Saved: " + (c.contact.name || c.contact.email) + " — " + (value ? ROLE_NAMES[value] || value : "not on the buying team")));
    return el("div", { id: "role" },
      el("label", { for: "f-role", text: (c.contact.name || c.contact.email) + "'s role on the buying team" }), select,
      el("p", { class: "muted", id: "role-status", role: "status" }));
  }

  function renderChooser(c) {
    const list = el("ul", { class: "candidates" });
    for (const candidate of c.candidates) {
      const label = candidate.name + " — " + (candidate.account ? candidate.account.name : "") + " · " + candidate.stage.name + " · " + money(candidate.amount, candidate.currency);
      list.append(el("li", {}, el("button", { type: "button", class: "secondary", "data-id": String(candidate.id), text: label,
        onclick: () => linkThread(candidate.id) })));
    }
    return el("section", { class: "card", id: "chooser" },
      el("h2", { text: "Which deal is this email about?" }),
      el("p", { class: "muted", text: "Several open deals match. Until you choose, this email counts toward none of them. Your choice is remembered for the whole conversation." }),
      list,
      el("button", { type: "button", class: "secondary", id: "not-a-deal", text: "Not a deal", onclick: () => linkThread(null) }));
  }

  async function linkThread(opportunityId, threadKey) {
    try {
      await api("PUT", "threads/link", { thread_key: threadKey || state.context.thread_key, opportunity_id: opportunityId });
      announce(opportunityId === null ? "Marked as not a deal" : "Linked");
      load();
    } catch (error) {
      handleError(error);
    }
  }

  function renderRelink(c, title) {
    const select = el("select", { id: "move-to" },
      ...(c.deal_options || []).map((o) => el("option", { value: String(o.id), text: o.name + " · " + o.stage.name })),
      el("option", { value: "none", text: "Not a deal" }));
    return el("details", { class: "card", id: "relink" },
      el("summary", { text: title }),
      el("p", { class: "muted", text: "Moves your emails of this conversation; later mail follows. Colleagues' copies stay where they are." }),
      el("label", { for: "move-to", text: "Change deal" }), select,
      el("div", { class: "actions" }, el("button", { type: "button", id: "move", text: "Move this conversation",
        onclick: () => linkThread(select.value === "none" ? null : Number(select.value)) })));
  }

  function renderTeam(c) {
    const opp = c.opportunity;
    const team = opp.buying_team || [];
    const list = el("ul", { class: "team", "aria-label": "Buying team" });
    for (const m of team) {
      const id = "team-role-" + m.contact_id;
      const select = el("select", { id: id },
        el("option", { value: "", text: "Remove from the team" }),
        ...c.buying_roles.map((r) => el("option", { value: r, text: ROLE_NAMES[r] || r, selected: m.role === r })));
      const currentRole = () => {
        const now = (state.context.opportunity.buying_team || []).find((t) => t.contact_id === m.contact_id);
        return now ? now.role : "";
      };
      commitSelect(select, currentRole, (value) => guardedSave(
        "opportunities/" + opp.id + "/buying-team/" + m.contact_id, "PUT", { role: value || null }, value ? id : "team-add-email", "team-status",
        "Saved: " + (m.name || m.email) + " — " + (value ? ROLE_NAMES[value] || value : "removed from the team")));
      list.append(el("li", {},
        el("label", { for: id, text: m.name || m.email }), select,
        el("span", { class: "muted", text: m.last_engaged_at ? "Last engaged " + ago(m.last_engaged_at) : "Not engaged yet" })));
    }
    if (!team.length) list.append(el("li", { class: "muted", text: "Nobody on the buying team yet." }));
    const onTeam = new Set(team.map((m) => m.email));
    const people = (c.participants || []).filter((p) => !onTeam.has(p.email));
    const who = el("input", { id: "team-add-email", type: "email", maxlength: "320", list: "team-people",
      placeholder: people.length ? people[0].email : "name@customer.com", value: people.length ? people[0].email : "" });
    const options = el("datalist", { id: "team-people" }, ...people.map((p) => el("option", { value: p.email, text: p.name || p.email })));
    const role = el("select", { id: "team-add-role" }, ...c.buying_roles.map((r) => el("option", { value: r, text: ROLE_NAMES[r] || r })));
    const status = el("p", { class: "muted", id: "team-status", role: "status" });
    const form = el("form", { id: "team-add", novalidate: true },
      el("label", { for: "team-add-email", text: "Add someone from this email, or any address" }), who, options,
      el("label", { for: "team-add-role", text: "Role" }), role,
      el("div", { class: "actions" }, el("button", { type: "submit", id: "team-add-button", text: "Add to the buying team" })), status);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const person = people.find((p) => p.email === who.value.trim());
      const address = who.value.trim();
      queued(async () => {
      try {
        state.context.opportunity = await api("POST", "opportunities/" + opp.id + "/buying-team",
          { version: state.context.opportunity.version, email: address, name: person ? person.name : "", role: role.value });
        state.flash = { id: "team-status", text: "Added " + address + " as " + (ROLE_NAMES[role.value] || role.value) + "." };
        await refresh("team-add-email");
        announce("Added to the buying team: " + address);
      } catch (error) {
        if (error instanceof ApiError && error.status === 422) {
          $("team-status").textContent = "Not added — " + ((error.body.errors || []).map((e) => e.message).join("; ") || error.message);
        } else if (error instanceof ApiError && (error.status === 409 || error.status === 412)) {
          await refresh("team-add-email");
          $("team-status").textContent = "Someone changed this deal meanwhile; nothing was added. Try again.";
        } else {
          handleError(error);
        }
      }
      });
    });
    return el("section", { id: "buying-team", "aria-label": "Buying team" }, list, form);
  }

  function renderNeedsDeal() {
    const items = state.needsDeal || [];
    const section = el("details", { class: "card", id: "needs-deal", open: items.length > 0 && items.length <= 3 },
      el("summary", { text: "Needs a deal (" + items.length + ")" }));
    if (!items.length) {
      section.append(el("p", { class: "muted", text: "No email waits for your choice." }));
      return section;
    }
    const list = el("ul", { class: "needs" });
    for (const item of items) {
      const choices = el("div", { class: "actions" },
        ...item.candidates.map((c) => el("button", { type: "button", class: "secondary", text: c.name,
          onclick: () => linkThread(c.id, item.thread_key) })),
        el("button", { type: "button", class: "secondary", text: "Not a deal", onclick: () => linkThread(null, item.thread_key) }));
      list.append(el("li", {}, el("span", { class: "subject", text: item.subject || "(no subject)" }),
        el("span", { class: "muted", text: " · " + ago(item.occurred_at) }), item.mine ? choices : null));
    }
    section.append(el("p", { class: "muted", text: "These emails match several deals and count toward none until someone chooses." }), list);
    return section;
  }

  function renderNoDeal(c) {
    const section = el("section", { class: "card", id: "no-deal" }, el("h2", { text: "No open deal for this email" }));
    if (!c.account) {
      section.append(el("p", { class: "muted", text: "The sender's company is not an account in DealPulse yet." }));
      return section;
    }
    const form = el("form", { id: "create-form", novalidate: true },
      el("p", { class: "muted", text: "Create one for " + c.account.name + ":" }),
      el("label", { for: "c-name", text: "Deal name" }),
      el("input", { id: "c-name", name: "name", required: true, maxlength: "200", value: c.account.name + " — " + (state.query.subject || "new deal").slice(0, 120) }),
      el("div", { class: "row" },
        el("div", {}, el("label", { for: "c-stage", text: "Stage" }), el("select", { id: "c-stage", name: "stage" }, ...stageOptions(c, null, true))),
        el("div", {}, el("label", { for: "c-amount", text: "Amount" }), el("input", { id: "c-amount", name: "amount", type: "number", min: "0", step: "0.01", value: "0" }))),
      el("div", { class: "actions" }, el("button", { type: "submit", id: "create-deal", text: "Create deal" }),
        el("span", { class: "muted", id: "create-status", role: "status" })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { thread_key: c.thread_key, name: form.elements.name.value, account_id: c.account.id, stage: form.elements.stage.value,
        amount: form.elements.amount.value || "0" };
      if (c.contact) body.contact_id = c.contact.id;
      try {
        await api("POST", "threads/opportunity", body);
        announce("Deal created");
        load();
      } catch (error) {
        if (error instanceof ApiError && error.status === 422) {
          $("create-status").textContent = "Not created — " + (error.body.errors || []).map((e) => e.field + ": " + e.message).join("; ");
        } else {
          handleError(error);
        }
      }
    });
    section.append(form);
    return section;
  }

  function renderTone(c) {
    const email = c.email;
    const tone = email.tone;
    const section = el("section", { class: "card", id: "tone", "aria-labelledby": "tone-title" }, el("h3", { id: "tone-title", text: "Tone of this email" }));
    if (!tone) {
      const why = email.content_hidden ? "Private email: its tone is visible to the reps who received it."
        : email.tone_pending ? "The tone model is still being prepared; reopen this email in a few minutes."
        : "No text to score in this email.";
      section.append(el("p", { class: "muted", text: why }));
    } else {
      const how = tone.stored ? "model " + tone.model_version : "scored just now, not stored until captured";
      const reading = tone.reading || { wording: TONE_NAMES[tone.label] || tone.label, confident: true, confidence: tone.confidence };
      section.append(el("div", { class: "tone" },
        el("span", { class: "badge " + tone.label + (reading.confident ? "" : " leaning"), id: "tone-badge", text: reading.wording }),
        el("span", { class: "muted", id: "tone-confidence", text: Math.round(Number(reading.confidence) * 100) + "% confidence" })));
      if (tone.highlights && tone.highlights.length) {
        const list = el("ul", { class: "highlights", "aria-label": "The deciding sentence" + (tone.highlights.length > 1 ? "s" : "") });
        for (const h of tone.highlights) list.append(el("li", {}, el("mark", { text: h.text })));
        section.append(list);
      }
      section.append(el("p", { class: "muted fine", id: "tone-source", text: how }));
    }
    return section;
  }

  const OUTCOME_NAMES = { positive: "Went well", neutral: "Neutral", negative: "Went badly" };

  function renderMeetingOutcome(c) {
    // On a meeting: once it has ended (with the buyer in it), how did it go, the next step and a short note.
    const m = c.email.meeting;
    const section = el("section", { class: "card", id: "meeting-outcome", "aria-labelledby": "outcome-title" },
      el("h3", { id: "outcome-title", text: "How did the meeting go?" }));
    if (!c.email.captured || c.email.content_hidden) {
      section.append(el("p", { class: "muted", text: "DealPulse has not captured this meeting for you yet." }));
      return section;
    }
    if (!m.ended) {
      section.append(el("p", { class: "muted", id: "outcome-later", text: "Ask again after the meeting: DealPulse records its outcome once it has ended." }));
      return section;
    }
    if (!m.has_buyer) {
      section.append(el("p", { class: "muted", text: "No one from the buyer took part: there is no outcome to record." }));
      return section;
    }
    const chosen = { value: m.outcome ? m.outcome.outcome : null };
    const group = el("div", { class: "rate", role: "group", "aria-labelledby": "outcome-title" });
    for (const value of ["negative", "neutral", "positive"]) {
      group.append(el("button", { type: "button", id: "outcome-" + value, "aria-pressed": chosen.value === value ? "true" : "false",
        text: OUTCOME_NAMES[value], onclick: (event) => {
          chosen.value = value;
          for (const b of group.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === event.currentTarget));
        } }));
    }
    const form = el("form", { id: "outcome-form", novalidate: true }, group,
      el("label", { for: "outcome-next", text: "Next step" }),
      el("input", { id: "outcome-next", maxlength: "500", value: m.outcome ? m.outcome.next_step : "" }),
      el("label", { for: "outcome-note", text: "Short note (optional)" }),
      el("textarea", { id: "outcome-note", maxlength: "2000", text: m.outcome ? m.outcome.note : "" }),
      el("div", { class: "actions" }, el("button", { type: "submit", id: "save-outcome", text: "Save the outcome" })),
      el("p", { class: "muted", id: "outcome-status", role: "status" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!chosen.value) { confirm("outcome-status", "Choose how it went first."); return; }
      queued(async () => {
        const seq = state.seq;
        try {
          m.outcome = await api("PUT", "activities/" + c.email.id + "/outcome",
            { outcome: chosen.value, next_step: $("outcome-next").value, note: $("outcome-note").value });
          if (!current(seq)) return;
          state.flash = { id: "outcome-status", text: "Outcome saved: " + OUTCOME_NAMES[chosen.value] + "." };
          await refresh("save-outcome");
          announce("Meeting outcome saved: " + OUTCOME_NAMES[chosen.value]);
        } catch (error) {
          if (!current(seq)) return;
          if (error instanceof ApiError && error.status === 422) confirm("outcome-status", "Not saved — " + error.message);
          else handleError(error);
        }
      });
    });
    section.append(form);
    return section;
  }

  function renderYourReading(c) {
    // The rep's own reading: rate the buyer's tone, keep the thread private.
    const email = c.email;
    const section = el("section", { class: "card", id: "your-reading", "aria-label": "Your reading of this email" }, renderRating(c));
    if (email.captured && email.is_mine) {
      const box = el("input", { type: "checkbox", id: "f-private", checked: !!(c.thread_private || email.is_private) });
      box.addEventListener("change", async () => {
        try {
          await api("PUT", "threads/private", { thread_key: c.thread_key, is_private: box.checked });
          c.thread_private = box.checked;
          c.email.is_private = box.checked;
          state.flash = { id: "private-status", text: box.checked ? "Thread marked private." : "Thread no longer private." };
          render("f-private");
          announce(box.checked ? "Thread marked private" : "Thread no longer private");
        } catch (error) { handleError(error); }
      });
      section.append(el("div", { class: "check" }, box, el("label", { for: "f-private", text: "Private thread (managers see only that it exists)" })),
        el("p", { class: "muted", id: "private-status", role: "status" }));
    }
    return section;
  }

  function renderRating(c) {
    const email = c.email;
    const mine = email.my_rating;
    if (email.not_ratable_reason) {
      return el("div", { id: "rating" }, el("p", { class: "muted", id: "not-ratable", text: email.not_ratable_reason }));
    }
    const group = el("div", { class: "rate", role: "group", "aria-labelledby": "rate-title" });
    const canRate = email.captured && !email.content_hidden;
    for (const label of ["negative", "neutral", "positive"]) {
      group.append(el("button", { type: "button", id: "rate-" + label, "aria-pressed": mine && mine.label === label ? "true" : "false",
        disabled: !canRate, text: TONE_NAMES[label], onclick: () => rate(label) }));
    }
    const wrapper = el("div", { id: "rating" }, el("p", { id: "rate-title", class: "muted", text: "How does the buyer sound to you?" }), group);
    if (canRate) {
      wrapper.append(el("label", { for: "rate-note", text: "Note on your rating (optional)" }),
        el("textarea", { id: "rate-note", maxlength: "2000", text: mine ? mine.note : "" }));
    } else if (!email.captured) {
      wrapper.append(el("p", { class: "muted", text: "You can rate this email once DealPulse has captured it (usually within a minute)." }));
    }
    wrapper.append(el("p", { class: "muted", id: "rate-status", role: "status" }));
    return wrapper;
  }

  async function rate(label) {
    const note = $("rate-note") ? $("rate-note").value : "";
    try {
      state.context.email.my_rating = await api("PUT", "activities/" + state.context.email.id + "/rating", { label: label, note: note });
      state.flash = { id: "rate-status", text: "Rated " + TONE_NAMES[label].toLowerCase() + "." };
      render("rate-" + label);
      announce("Rating saved: " + TONE_NAMES[label]);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 403 || error.status === 422)) {
        $("rate-status").textContent = "Not saved — " + error.message;
      } else {
        handleError(error);
      }
    }
  }

  function renderNotes(c) {
    const section = el("section", { id: "notes-section", "aria-label": "Notes" });
    if (c.email.content_hidden) {
      section.append(el("p", { class: "muted", text: "Notes on a private email are visible to the reps who received it." }));
      return section;
    }
    const list = el("ul", { class: "notes", id: "notes" });
    for (const note of c.email.notes) {
      list.append(el("li", {}, note.text, el("span", { class: "muted", text: " — " + (note.author ? note.author.name : "") + ", " + ago(note.created_at) })));
    }
    const form = el("form", { novalidate: true },
      el("label", { for: "note-text", text: "Add a note" }), el("textarea", { id: "note-text", maxlength: "5000" }),
      el("div", { class: "actions" }, el("button", { type: "submit", id: "add-note", text: "Add note" }),
        el("span", { class: "muted", id: "note-status", role: "status" })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = $("note-text").value.trim();
      if (!text) { $("note-status").textContent = "Write something first."; return; }
      try {
        const note = await api("POST", "activities/" + c.email.id + "/notes", { text: text });
        c.email.notes.push(note);
        state.flash = { id: "note-status", text: "Note added." };
        render("note-text");
        announce("Note added");
      } catch (error) { handleError(error); }
    });
    section.append(list, form);
    return section;
  }

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function signed(score) { return (score >= 0 ? "+" : "−") + Math.abs(score).toFixed(2); }

  function renderChart(points) {
    // Tone of the last inbound emails by date: y axis from -1 (negative) to +1 (positive), the first and last
    // dates on the x axis, and the same data as a list (the text alternative).
    const width = 296;
    const height = 96;
    const left = 30;
    const right = 8;
    const top = 6;
    const bottom = 20;
    const times = points.map((p) => Date.parse(p.occurred_at));
    const first = Math.min(...times);
    const span = Math.max(1, Math.max(...times) - first);
    const x = (t) => points.length === 1 ? (left + width - right) / 2 : left + (t - first) / span * (width - left - right);
    const y = (v) => top + (1 - (Number(v) + 1) / 2) * (height - top - bottom);
    const latest = points[points.length - 1];
    const summary = "Tone of the last " + points.length + " inbound emails, " + shortDate(points[0].occurred_at) + " to " +
      shortDate(latest.occurred_at) + "; latest " + signed(Number(latest.score)) + " (" + (TONE_NAMES[latest.label] || latest.label) + ")";
    const svg = svgEl("svg", { class: "chart", viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": summary });
    for (const [value, label] of [[1, "+1"], [0, "0"], [-1, "−1"]]) {
      svg.append(svgEl("line", { class: value === 0 ? "zero" : "grid", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
      svg.append(svgEl("text", { class: "axis", x: left - 4, y: y(value) + 4, "text-anchor": "end" }, label));
    }
    svg.append(svgEl("text", { class: "axis", x: left, y: height - 4, "text-anchor": "start" }, shortDate(points[0].occurred_at)));
    if (points.length > 1) svg.append(svgEl("text", { class: "axis", x: width - right, y: height - 4, "text-anchor": "end" }, shortDate(latest.occurred_at)));
    const xy = points.map((p, i) => [x(times[i]), y(p.score)]);
    svg.append(svgEl("polyline", { class: "trend", points: xy.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ") }));
    xy.forEach(([cx, cy], i) => {
      const dot = svgEl("circle", { class: "dot", cx: cx.toFixed(1), cy: cy.toFixed(1), r: 3 });
      dot.append(svgEl("title", {}, shortDate(points[i].occurred_at) + ": " + signed(Number(points[i].score))));
      svg.append(dot);
    });
    const list = el("ul", { class: "chart-data" }, ...points.map((p) =>
      el("li", { text: shortDate(p.occurred_at) + ": " + (TONE_NAMES[p.label] || p.label) + " (" + signed(Number(p.score)) + ")" })));
    return el("figure", { class: "chart-box", id: "tone-chart" }, svg,
      el("details", {}, el("summary", { text: "Tone by date (as text)" }), list));
  }

  function renderTimeline(c) {
    const t = c.timeline;
    const section = el("section", { class: "card", id: "timeline", "aria-labelledby": "timeline-title" },
      el("h3", { id: "timeline-title", text: "Deal timeline" }),
      el("p", { class: "counts" },
        el("span", {}, el("strong", { text: String(t.inbound) }), " in"),
        el("span", {}, el("strong", { text: String(t.outbound) }), " out"),
        el("span", {}, el("strong", { text: String(t.meetings) }), " meetings"),
        t.upcoming_meetings ? el("span", {}, el("strong", { text: String(t.upcoming_meetings) }), " planned") : null),
      el("p", { class: "muted", id: "last-inbound", text: "Last inbound: " + ago(t.last_inbound_at) }));
    if (t.tone_trend.length) section.append(renderChart(t.tone_trend));  // axes, dates, text alternative
    const list = el("ul", { class: "recent", "aria-label": "Recent activity" });
    for (const a of t.recent) {
      list.append(el("li", {},
        el("span", { text: a.direction === "inbound" ? "←" : "→", title: a.direction, "aria-label": a.direction }),
        el("span", { class: "subject", text: a.subject || "(no subject)" }),
        el("span", { class: "muted", text: a.tone ? TONE_NAMES[a.tone] : "" })));
    }
    section.append(list);
    return section;
  }

  // ---------------------------------------------------------------- start
  function start() {
    $("refresh").addEventListener("click", load);
    window.addEventListener("online", () => { if (state.offline) load(); });
    if (typeof window.Office === "undefined" || typeof Office.onReady !== "function") {
      showState("Outlook isn't available", "Open DealPulse from an email in Outlook. (Office.js did not load — are you offline?)", { label: "Try again", run: () => window.location.reload() });
      return;
    }
    Office.onReady((info) => {
      if (!info || info.host !== Office.HostType.Outlook) {
        showState("Open DealPulse in Outlook", "This pane works inside Outlook, next to an email.");
        return;
      }
      if (Office.context.mailbox.addHandlerAsync && Office.EventType && Office.EventType.ItemChanged) {
        Office.context.mailbox.addHandlerAsync(Office.EventType.ItemChanged, load); // pinned pane: follow the selection
      }
      load();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
