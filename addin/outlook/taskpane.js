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
  const state = { token: null, context: null, pending: null, conflict: null, offline: false, query: null, needsDeal: [] };

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
    showLoading();
    state.pending = null;
    state.conflict = null;
    if (!state.token) {
      try {
        state.token = await getToken(false);
      } catch (error) {
        showSignIn();
        return;
      }
    }
    const query = await readItem();
    if (!query) {
      showState("Open an email", "Select an email to see the deal it belongs to.");
      return;
    }
    state.query = query;
    try {
      state.context = await api("POST", "context", query);
      state.offline = false;
      render();
      loadNeedsDeal();
      announce(state.context.opportunity ? "Deal loaded: " + state.context.opportunity.name : "Email loaded");
    } catch (error) {
      handleError(error);
    }
  }

  async function refresh(focusId) {
    // Re-read the email's context after a change: alerts, dynamics and the buying team as the server now sees them.
    try {
      state.context = await api("POST", "context", state.query);
    } catch (error) {
      // keep what we have; the change itself was saved
    }
    render(focusId);
  }

  async function loadNeedsDeal() {
    try {
      state.needsDeal = (await api("GET", "threads/needs-deal")).items || [];
    } catch (error) {
      state.needsDeal = [];
    }
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
    root.append(renderWho(c));
    if (c.alerts && c.alerts.length) root.append(renderAlerts(c.alerts));
    if (c.status === "matched") {
      root.append(renderDeal(c));
      root.append(renderExitQuestions(c));
      if (c.contact) root.append(renderRole(c));
      root.append(renderTeam(c));
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
    root.append(renderTone(c));
    if (c.email.captured) root.append(renderNotes(c));
    if (c.timeline) root.append(renderTimeline(c));
    root.append(renderNeedsDeal());
    showContent();
    if (focusId && $(focusId)) $(focusId).focus();
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
    const form = el("form", { class: "card", id: "deal-form", novalidate: true, "aria-labelledby": "deal-name" },
      el("h2", { id: "deal-name", text: opp.name }),
      el("p", { class: "muted", text: money(opp.amount, opp.currency) + " · " + (opp.owner ? opp.owner.name : "") + " · v" + opp.version }),
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
    const wrapper = el("div", { id: "deal" });
    if (state.conflict) wrapper.append(renderConflict());
    wrapper.append(form);
    return wrapper;
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

  async function saveDeal(form) {
    const changes = formChanges(form);
    if (Object.keys(changes).length === 0) {
      $("deal-status").textContent = "Nothing changed.";
      return;
    }
    await patchDeal(changes, state.context.opportunity.version);
  }

  async function patchDeal(changes, version) {
    const opp = state.context.opportunity;
    $("save-deal").disabled = true;
    try {
      state.context.opportunity = await api("PATCH", "opportunities/" + opp.id, Object.assign({ version: version }, changes));
      state.pending = null;
      state.conflict = null;
      await refresh("save-deal"); // the edit re-evaluated the deal's alerts: show them
      $("deal-status").textContent = "Saved.";
      announce("Deal saved");
    } catch (error) {
      if (error instanceof ApiError && (error.status === 409 || error.status === 412) && error.body.current) {
        state.pending = changes;
        state.conflict = error.body;
        render("conflict-title");
        announce("Not saved: someone else changed this deal.");
      } else if (error instanceof ApiError && error.status === 422) {
        $("save-deal").disabled = false;
        const errors = (error.body.errors || []).map((e) => e.field + ": " + e.message).join("; ");
        $("deal-status").textContent = "Not saved — " + (errors || error.message);
        announce("Not saved: " + (errors || error.message));
      } else {
        $("save-deal").disabled = false;
        handleError(error);
      }
    }
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
          state.context.opportunity = conflict.current;
          patchDeal(state.pending, conflict.current.version);
        } }),
        el("button", { type: "button", class: "secondary", id: "discard", text: "Discard mine", onclick: () => {
          state.context.opportunity = conflict.current;
          state.pending = null;
          state.conflict = null;
          render("f-stage");
          announce("Showing the latest version of the deal");
        } })));
  }

  function answerValue(answer) { return answer === true ? "yes" : answer === false ? "no" : ""; }

  function renderExitQuestions(c) {
    const opp = c.opportunity;
    const section = el("fieldset", { class: "card", id: "exit-questions" }, el("legend", { text: "Exit questions: " + opp.stage.name }));
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
      select.addEventListener("change", () => saveAnswer(q.key, select.value, id));
      list.append(el("li", {}, el("label", { for: id, text: q.text }), select));
    }
    section.append(list, el("p", { class: "muted", id: "exit-status", role: "status" }));
    return section;
  }

  async function guardedSave(path, method, body, focusId, okMessage) {
    const opp = state.context.opportunity;
    try {
      state.context.opportunity = await api(method, path, Object.assign({ version: opp.version }, body));
      await refresh(focusId);
      announce(okMessage);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 409 || error.status === 412) && error.body.current) {
        state.context.opportunity = error.body.current;
        const who = (error.body.changes_since || []).map((c) => (c.actor ? c.actor.name : "Someone")).filter((v, i, a) => a.indexOf(v) === i).join(", ");
        render(focusId);
        const message = (who || "Someone") + " changed this deal meanwhile; your choice was not saved. The latest values are shown — choose again.";
        const status = $("exit-status") || $("role-status");
        if (status) status.textContent = message;
        announce(message);
      } else {
        handleError(error);
      }
    }
  }

  function saveAnswer(key, value, focusId) {
    const answer = value === "yes" ? true : value === "no" ? false : null;
    const answers = {};
    answers[key] = answer;
    guardedSave("opportunities/" + state.context.opportunity.id + "/exit-answers", "PUT", { answers: answers }, focusId, "Answer saved");
  }

  function renderRole(c) {
    const current = (c.opportunity.buying_team || []).find((m) => m.contact_id === c.contact.id);
    const select = el("select", { id: "f-role" },
      el("option", { value: "", text: "Not on the buying team", selected: !current }),
      ...c.buying_roles.map((r) => el("option", { value: r, text: ROLE_NAMES[r] || r, selected: current && current.role === r })));
    select.addEventListener("change", () => guardedSave(
      "opportunities/" + c.opportunity.id + "/buying-team/" + c.contact.id, "PUT", { role: select.value || null }, "f-role", "Role saved"));
    return el("div", { class: "card", id: "role" },
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
      select.addEventListener("change", () => guardedSave(
        "opportunities/" + opp.id + "/buying-team/" + m.contact_id, "PUT", { role: select.value || null }, "team-add-email", "Buying team saved"));
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
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const person = people.find((p) => p.email === who.value.trim());
      try {
        state.context.opportunity = await api("POST", "opportunities/" + opp.id + "/buying-team",
          { version: opp.version, email: who.value.trim(), name: person ? person.name : "", role: role.value });
        await refresh("team-add-email");
        announce("Added to the buying team");
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
    return el("section", { class: "card", id: "buying-team", "aria-labelledby": "team-title" },
      el("h3", { id: "team-title", text: "Buying team" }), list, form);
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
      const how = tone.stored ? "scored by model " + tone.model_version : "scored just now (not stored until the email is captured)";
      const reading = tone.reading || { wording: TONE_NAMES[tone.label] || tone.label, confident: true, confidence: tone.confidence };
      section.append(el("div", { class: "tone" },
        el("span", { class: "badge " + tone.label + (reading.confident ? "" : " leaning"), id: "tone-badge", text: reading.wording }),
        el("span", { class: "muted", id: "tone-confidence", text: Math.round(Number(reading.confidence) * 100) + "% confidence · " + how })));
      if (tone.highlights && tone.highlights.length) {
        const list = el("ul", { class: "highlights", "aria-label": "Sentences behind this tone" });
        for (const h of tone.highlights) list.append(el("li", {}, el("mark", { text: h.text })));
        section.append(list);
      }
    }
    section.append(renderRating(c));
    if (email.captured && email.is_mine) {
      const box = el("input", { type: "checkbox", id: "f-private", checked: !!(c.thread_private || email.is_private) });
      box.addEventListener("change", async () => {
        try {
          await api("PUT", "threads/private", { thread_key: c.thread_key, is_private: box.checked });
          c.thread_private = box.checked;
          c.email.is_private = box.checked;
          render("f-private");
          announce(box.checked ? "Thread marked private" : "Thread no longer private");
        } catch (error) { handleError(error); }
      });
      section.append(el("div", { class: "check" }, box, el("label", { for: "f-private", text: "Private thread (managers see only that it exists)" })));
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
      render("rate-" + label);
      $("rate-status").textContent = "Rated " + TONE_NAMES[label].toLowerCase() + ".";
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
    const section = el("section", { class: "card", id: "notes-section", "aria-labelledby": "notes-title" }, el("h3", { id: "notes-title", text: "Notes" }));
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
        render("note-text");
        announce("Note added");
      } catch (error) { handleError(error); }
    });
    section.append(list, form);
    return section;
  }

  function renderChart(points) {
    const NS = "http://www.w3.org/2000/svg";
    const width = 280;
    const height = 60;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    const summary = points.map((p) => Number(p.score).toFixed(1)).join(", ");
    svg.setAttribute("aria-label", "Tone of the last " + points.length + " inbound emails, oldest first: " + summary);
    const zero = document.createElementNS(NS, "line");
    zero.setAttribute("class", "zero");
    zero.setAttribute("x1", "0"); zero.setAttribute("x2", String(width));
    zero.setAttribute("y1", String(height / 2)); zero.setAttribute("y2", String(height / 2));
    svg.append(zero);
    const xy = points.map((p, i) => [points.length === 1 ? width / 2 : 6 + i * (width - 12) / (points.length - 1), height / 2 - Number(p.score) * (height / 2 - 6)]);
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("class", "trend");
    line.setAttribute("points", xy.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" "));
    svg.append(line);
    for (const [x, y] of xy) {
      const dot = document.createElementNS(NS, "circle");
      dot.setAttribute("class", "dot");
      dot.setAttribute("cx", x.toFixed(1)); dot.setAttribute("cy", y.toFixed(1)); dot.setAttribute("r", "3");
      svg.append(dot);
    }
    return svg;
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
    if (t.tone_trend.length) section.append(renderChart(t.tone_trend));
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
