// The conversation editor: autosave with the version edited, offline keeping, conflict merge,
// turns, previews, AI drafts and keyboard shortcuts. Server-rendered page; this script only
// moves text between the fields, localStorage and the JSON API. User text is only ever put
// into the page as .value or .textContent, never as HTML.
(() => {
  "use strict";

  const form = document.getElementById("editor-form");
  if (!form) return;
  // The editor saves through the API; Enter in a field must not post the form.
  form.addEventListener("submit", (event) => event.preventDefault());

  const conversationId = form.dataset.conversation;
  const editable = form.dataset.editable === "true";
  const apiUrl = form.dataset.apiUrl;
  const storageKey = `sft-editor:${conversationId}`;
  const list = document.getElementById("messages");
  const stateEl = document.getElementById("save-state");
  const conflictEl = document.getElementById("conflict");
  const submitForm = document.getElementById("submit-form");
  const template = document.getElementById("message-template");
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"];

  const TYPING_PAUSE_MS = 800;
  const RETRY_MAX_MS = 15000;

  let version = Number(form.dataset.version);
  let dirty = false;
  let saving = null; // the promise of the save in flight
  let typingTimer = null;
  let retryTimer = null;
  let retryDelay = 2000;
  let conflict = null; // {version, messages} saved elsewhere, while the person merges

  // --- reading and writing the fields ---------------------------------------------------

  const cards = () => Array.from(list.querySelectorAll("[data-message]"));

  function collect() {
    return cards().map((card) => {
      const draft = card.querySelector("[data-draft-input]").value;
      // Reasoning, tool calls and tool_call_id ride along unchanged (structured turns).
      const parts = card.querySelector("[data-parts-input]");
      const message = {
        ...(parts && parts.value ? JSON.parse(parts.value) : {}),
        role: card.querySelector("[data-role-input]").value,
        content: card.querySelector("[data-content]").value,
      };
      if (draft) message.draft_request = Number(draft);
      return message;
    });
  }

  function renumber() {
    cards().forEach((card, position) => {
      card.id = `card-${position}`;
      const role = card.querySelector("[data-role-input]").value;
      const number = card.querySelector("[data-number]");
      if (number) number.textContent = `#${position + 1}`;
      const textarea = card.querySelector("textarea[data-content]");
      if (textarea) textarea.id = `msg-${position}`;
      const label = card.querySelector("[data-label]");
      if (label) {
        label.htmlFor = `msg-${position}`;
        label.textContent = `${capitalize(role)} message ${position + 1}`;
      }
      const tokens = card.querySelector("[data-tokens]");
      if (tokens) tokens.id = `tokens-${position}`;
      const origin = card.querySelector("[data-origin]");
      if (origin) origin.id = `origin-${position}`;
    });
  }

  const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

  function newCard(role, content = "") {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.role = role;
    card.classList.remove("msg-user");
    card.classList.add(`msg-${role}`);
    card.querySelector("[data-role-input]").value = role;
    card.querySelector("[data-role-label]").textContent = capitalize(role);
    const textarea = card.querySelector("textarea[data-content]");
    textarea.value = content;
    textarea.rows = role === "assistant" ? 8 : 3;
    textarea.placeholder =
      role === "assistant"
        ? "Write the ideal assistant reply (markdown)…"
        : role === "system"
          ? "System message…"
          : "The user's next message…";
    textarea.dataset.modelOriginal = "";
    if (role !== "assistant") card.querySelectorAll("[data-assistant-only]").forEach((b) => b.remove());
    return card;
  }

  // A message's structured parts (reasoning, tool calls, tool_call_id) where set, as JSON.
  const PARTS = ["reasoning", "tool_calls", "tool_call_id"];
  function partsOf(message) {
    const parts = {};
    PARTS.forEach((key) => {
      const value = message[key];
      if (value && (!Array.isArray(value) || value.length)) parts[key] = value;
    });
    return Object.keys(parts).length ? JSON.stringify(parts) : "";
  }

  function applyMessages(messages) {
    // Only the editable tail is rebuilt; locked cards (the prompt) never change here.
    const existing = cards();
    messages.forEach((message, position) => {
      const card = existing[position];
      if (card) {
        const field = card.querySelector("[data-content]");
        if (card.dataset.locked !== "true") {
          field.value = message.content;
          card.querySelector("[data-parts-input]").value = partsOf(message);
        }
        card.querySelector("[data-draft-input]").value = message.draft_request || "";
      } else {
        const added = newCard(message.role, message.content);
        added.querySelector("[data-draft-input]").value = message.draft_request || "";
        added.querySelector("[data-parts-input]").value = partsOf(message);
        list.appendChild(added);
      }
    });
    existing.slice(messages.length).forEach((card) => {
      if (card.dataset.locked !== "true") card.remove();
    });
    renumber();
  }

  // --- save state -----------------------------------------------------------------------

  function showState(text, kind) {
    stateEl.textContent = text;
    stateEl.dataset.kind = kind;
  }

  const clock = (date) => date.toLocaleTimeString([], { hour12: false });

  function keepLocally() {
    try {
      localStorage.setItem(
        storageKey,
        JSON.stringify({ baseVersion: version, messages: collect(), keptAt: Date.now() }),
      );
    } catch (error) {
      // A full or disabled localStorage must not stop typing; the server save still runs.
    }
  }

  function forgetLocally() {
    try {
      localStorage.removeItem(storageKey);
    } catch (error) {
      /* nothing kept */
    }
  }

  function changed() {
    if (!editable) return;
    dirty = true;
    keepLocally();
    if (!conflict) showState("Not saved yet…", "pending");
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => save(), TYPING_PAUSE_MS);
    form.dispatchEvent(new CustomEvent("editor:changed", { bubbles: true }));
  }

  async function save() {
    if (!editable || conflict) return;
    clearTimeout(typingTimer);
    if (saving) {
      await saving;
      if (!dirty) return;
    }
    if (!dirty) return;
    saving = sendSave().finally(() => {
      saving = null;
    });
    return saving;
  }

  async function sendSave() {
    const messages = collect();
    dirty = false;
    showState("Saving…", "saving");
    let response;
    try {
      response = await fetch(apiUrl, {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
        body: JSON.stringify({ version, messages }),
      });
    } catch (error) {
      dirty = true;
      offline();
      return;
    }
    if (response.ok) {
      const body = await response.json();
      version = body.version;
      syncVersion();
      clearTimeout(retryTimer);
      retryDelay = 2000;
      if (dirty) {
        keepLocally();
        typingTimer = setTimeout(() => save(), TYPING_PAUSE_MS);
      } else {
        forgetLocally();
      }
      showState(`Saved ${clock(new Date(body.saved_at))}`, "saved");
      return;
    }
    dirty = true;
    keepLocally();
    if (response.status === 409) {
      const body = await response.json();
      showConflict(body.current);
      return;
    }
    if (response.status >= 500 || response.status === 0) {
      offline(`Not saved: the server answered ${response.status}, retrying`);
      return;
    }
    let message = `Not saved: ${response.status}`;
    try {
      message = `Not saved: ${(await response.json()).error.message}`;
    } catch (error) {
      /* not JSON */
    }
    showState(message, "error");
  }

  function offline(text = "Not saved: offline, retrying") {
    showState(text, "offline");
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => save(), retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  }

  function syncVersion() {
    form.dataset.version = String(version);
    if (submitForm) submitForm.querySelector("[name=version]").value = String(version);
  }

  window.addEventListener("online", () => {
    retryDelay = 2000;
    save();
  });
  window.addEventListener("offline", () => {
    if (dirty) showState("Not saved: offline, retrying", "offline");
  });
  // No "leave this page?" nagging: unsaved text is already in localStorage and comes back.
  window.addEventListener("pagehide", () => {
    if (dirty) keepLocally();
  });

  // --- conflicts: both texts side by side -----------------------------------------------

  function showConflict(current) {
    conflict = current;
    const mine = collect();
    const rows = conflictEl.querySelector(".conflict-rows");
    rows.replaceChildren();
    const count = Math.max(mine.length, current.messages.length);
    for (let position = 0; position < count; position += 1) {
      const ours = mine[position];
      const theirs = current.messages[position];
      if (ours && theirs && ours.content === theirs.content && ours.role === theirs.role) continue;
      rows.appendChild(conflictRow(position, ours, theirs));
    }
    conflictEl.hidden = false;
    showState("Not saved: changed elsewhere — merge below", "conflict");
    conflictEl.scrollIntoView({ block: "center" });
  }

  function conflictRow(position, ours, theirs) {
    const row = document.createElement("div");
    row.className = "conflict-row";
    row.dataset.position = String(position);
    const heading = document.createElement("h3");
    heading.textContent = `Message ${position + 1} (${(ours || theirs).role})`;
    row.appendChild(heading);
    const columns = document.createElement("div");
    columns.className = "conflict-columns";
    columns.appendChild(conflictColumn("Yours (in the editor)", ours ? ours.content : "(not in your version)", "mine"));
    columns.appendChild(conflictColumn("Saved elsewhere", theirs ? theirs.content : "(not in the saved version)", "theirs"));
    row.appendChild(columns);
    const choices = document.createElement("div");
    choices.className = "row";
    for (const [value, text] of [["mine", "Keep yours"], ["theirs", "Use saved"]]) {
      const label = document.createElement("label");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = `conflict-${position}`;
      radio.value = value;
      label.append(radio, ` ${text}`);
      choices.appendChild(label);
    }
    row.appendChild(choices);
    return row;
  }

  function conflictColumn(title, text, kind) {
    const column = document.createElement("div");
    column.className = `conflict-col conflict-${kind}`;
    const heading = document.createElement("h4");
    heading.textContent = title;
    const body = document.createElement("pre");
    body.textContent = text;
    column.append(heading, body);
    return column;
  }

  function resolveConflict(defaultChoice) {
    if (!conflict) return;
    const mine = collect();
    const theirs = conflict.messages;
    const merged = [];
    const count = Math.max(mine.length, theirs.length);
    for (let position = 0; position < count; position += 1) {
      const chosen = conflictEl.querySelector(`input[name="conflict-${position}"]:checked`);
      const choice = defaultChoice || (chosen ? chosen.value : "mine");
      const pick = choice === "theirs" ? theirs[position] : mine[position];
      if (pick) {
        const parts = partsOf(pick);
        merged.push({
          ...(parts ? JSON.parse(parts) : {}),
          role: pick.role,
          content: pick.content,
          draft_request: pick.draft_request,
        });
      }
    }
    version = conflict.version;
    syncVersion();
    conflict = null;
    conflictEl.hidden = true;
    applyMessages(merged);
    dirty = true;
    keepLocally();
    save();
  }

  // --- turns ----------------------------------------------------------------------------

  const lastRole = () => {
    const all = cards();
    return all.length ? all[all.length - 1].querySelector("[data-role-input]").value : null;
  };

  function addTurn(role) {
    const last = lastRole();
    if (last === role) {
      showState(`Add ${role === "user" ? "an assistant reply" : "a user message"} first: turns alternate.`, "error");
      return null;
    }
    const card = newCard(role);
    list.appendChild(card);
    renumber();
    card.querySelector("textarea").focus();
    changed();
    return card;
  }

  function removeLast() {
    const all = cards();
    const last = all[all.length - 1];
    if (!last || last.dataset.locked === "true") return;
    const text = last.querySelector("[data-content]").value.trim();
    if (text && !window.confirm("Remove the last message and its text?")) return;
    last.remove();
    renumber();
    changed();
  }

  function addSystem() {
    const card = newCard("system");
    list.insertBefore(card, list.firstElementChild);
    renumber();
    form.querySelector("[data-action=add-system]")?.remove();
    card.querySelector("textarea").focus();
    changed();
  }

  // --- preview --------------------------------------------------------------------------

  function togglePreview(card) {
    const preview = card.querySelector("[data-preview]");
    const textarea = card.querySelector("textarea[data-content]");
    const button = card.querySelector("[data-action=preview]");
    if (!preview || !textarea) return;
    const showing = !preview.hidden;
    if (showing) {
      preview.hidden = true;
      textarea.hidden = false;
      button.setAttribute("aria-pressed", "false");
      button.textContent = "Preview";
      textarea.focus();
      return;
    }
    htmx
      .ajax("POST", form.dataset.previewUrl, {
        target: preview,
        swap: "innerHTML",
        values: { content: textarea.value },
      })
      .then(() => {
        preview.hidden = false;
        textarea.hidden = true;
        button.setAttribute("aria-pressed", "true");
        button.textContent = "Edit";
      });
  }

  // --- AI drafts ------------------------------------------------------------------------

  async function requestDraft(card) {
    await save();
    const position = cards().indexOf(card);
    const slot = card.querySelector("[data-draft-slot]");
    htmx.ajax("POST", form.dataset.draftUrl, { target: slot, swap: "innerHTML", values: { position } });
  }

  function handleDraftReady(box) {
    if (box.dataset.handled) return;
    box.dataset.handled = "true";
    const card = box.closest("[data-message]");
    if (!card) return;
    const textarea = card.querySelector("textarea[data-content]");
    const draftText = box.querySelector(".draft-text").value;
    if (textarea && !textarea.value.trim()) {
      fillDraft(card, draftText, box.dataset.draftRequest);
      box.querySelector(".draft-ready-what").textContent = "It is in the reply below the prompt: edit it freely.";
      return;
    }
    box.querySelector(".draft-beside").textContent = draftText;
    box.querySelector(".draft-beside").hidden = false;
    box.querySelector(".draft-actions").hidden = false;
  }

  function fillDraft(card, text, draftRequestId) {
    const textarea = card.querySelector("textarea[data-content]");
    textarea.value = text;
    textarea.dataset.modelOriginal = text;
    card.querySelector("[data-draft-input]").value = draftRequestId;
    const origin = card.querySelector("[data-origin]");
    origin.textContent = "AI draft · unedited";
    origin.className = "origin pill warn";
    changed();
  }

  document.body.addEventListener("htmx:load", (event) => {
    const element = event.detail.elt;
    const boxes = element.matches?.("[data-draft-ready]")
      ? [element]
      : Array.from(element.querySelectorAll?.("[data-draft-ready]") || []);
    boxes.forEach(handleDraftReady);
  });

  // A draft status the server cannot give (the request is gone, the server failed) ends the
  // polling with a message, like a failed draft; the text in the turn is never touched.
  document.body.addEventListener("htmx:responseError", (event) => {
    const element = event.detail.elt;
    if (!element.matches?.(".draft-status")) return;
    const note = document.createElement("p");
    note.className = "error";
    note.setAttribute("role", "alert");
    note.textContent =
      `Could not check on the AI draft (the server answered ${event.detail.xhr.status}); ` +
      "try again. Nothing you wrote was changed.";
    element.replaceWith(note);
  });

  // --- events ---------------------------------------------------------------------------

  form.addEventListener("input", (event) => {
    if (event.target.matches("textarea[data-content]")) changed();
  });
  form.addEventListener("focusout", (event) => {
    if (event.target.matches("textarea[data-content]") && dirty) save();
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const card = button.closest("[data-message]");
    switch (button.dataset.action) {
      case "add-user":
        addTurn("user");
        break;
      case "add-assistant":
        addTurn("assistant");
        break;
      case "remove-last":
        removeLast();
        break;
      case "add-system":
        addSystem();
        break;
      case "preview":
        togglePreview(card);
        break;
      case "draft":
        requestDraft(card);
        break;
      case "use-draft": {
        const box = button.closest("[data-draft-ready]");
        fillDraft(card, box.querySelector(".draft-text").value, box.dataset.draftRequest);
        box.remove();
        break;
      }
      case "dismiss-draft":
        button.closest("[data-draft-ready]").remove();
        break;
      case "resolve-conflict":
        resolveConflict(null);
        break;
      case "keep-all-mine":
        resolveConflict("mine");
        break;
      case "take-all-theirs":
        resolveConflict("theirs");
        break;
      case "help":
        document.getElementById("help-dialog").showModal();
        break;
      default:
    }
  });

  if (submitForm) {
    submitForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      await save();
      if (dirty || conflict) {
        showState("Not submitted: your latest text is not saved yet.", "error");
        return;
      }
      syncVersion();
      submitForm.submit();
    });
  }

  function focusMessage(offset) {
    const fields = cards()
      .map((card) => card.querySelector("textarea[data-content]"))
      .filter(Boolean);
    const index = fields.indexOf(document.activeElement);
    const next = fields[index + offset];
    if (next) {
      next.focus();
    } else if (offset > 0 && editable) {
      addTurn(lastRole() === "assistant" ? "user" : "assistant");
    }
  }

  document.addEventListener("keydown", (event) => {
    const mod = event.ctrlKey || event.metaKey;
    if (mod && event.key.toLowerCase() === "s") {
      event.preventDefault();
      dirty = dirty || editable;
      save();
    } else if (mod && event.key === "Enter") {
      event.preventDefault();
      submitForm?.requestSubmit();
    } else if (event.altKey && event.key === "ArrowDown") {
      event.preventDefault();
      focusMessage(1);
    } else if (event.altKey && event.key === "ArrowUp") {
      event.preventDefault();
      focusMessage(-1);
    } else if (event.altKey && (event.key === "p" || event.key === "P" || event.code === "KeyP")) {
      const card = document.activeElement?.closest?.("[data-message]");
      if (card) {
        event.preventDefault();
        togglePreview(card);
      }
    } else if (event.key === "?" && !event.target.matches("textarea, input, select")) {
      event.preventDefault();
      document.getElementById("help-dialog").showModal();
    }
  });

  // --- start: bring back text kept in this browser --------------------------------------

  function restore() {
    let kept = null;
    try {
      kept = JSON.parse(localStorage.getItem(storageKey) || "null");
    } catch (error) {
      kept = null;
    }
    if (!kept || !editable) return;
    const current = { version, messages: collect() };
    if (kept.baseVersion === version) {
      applyMessages(kept.messages);
      dirty = true;
      showState("Restored unsaved text from this browser; saving…", "pending");
      save();
    } else {
      // Saved elsewhere since this browser kept the text: merge rather than pick one.
      version = kept.baseVersion;
      applyMessages(kept.messages);
      dirty = true;
      showConflict(current);
    }
  }

  // The lease can run out while the page is open: say so then, calmly (saving goes on).
  function watchLease() {
    const notice = document.getElementById("lease-expired");
    if (!notice || !notice.hidden) return;
    const wait = Date.parse(notice.dataset.leaseExpires) - Date.now();
    if (Number.isNaN(wait) || wait > 2 ** 31 - 1) return;
    setTimeout(() => {
      notice.hidden = false;
      const when = document.getElementById("lease-time");
      if (when) when.firstChild.textContent = "lease ran out at ";
    }, Math.max(0, wait));
  }

  renumber();
  restore();
  watchLease();
})();
