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
    card.querySelector("[data-role-label]").textContent = role === "tool" ? "Tool result" : capitalize(role);
    const textarea = card.querySelector("textarea[data-content]");
    textarea.value = content;
    textarea.rows = role === "assistant" ? 8 : role === "tool" ? 4 : 3;
    textarea.placeholder = {
      assistant: "Write the ideal assistant reply (markdown)…",
      system: "System message…",
      tool: "What the tool returned (paste it exactly)…",
    }[role] || "The user's next message…";
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
    cards().forEach(renderParts);
    drawResultSlots();
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
      if (ours && theirs && messageText(ours) === messageText(theirs) && ours.role === theirs.role) continue;
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
    columns.appendChild(conflictColumn("Yours (in the editor)", ours ? messageText(ours) : "(not in your version)", "mine"));
    columns.appendChild(conflictColumn("Saved elsewhere", theirs ? messageText(theirs) : "(not in the saved version)", "theirs"));
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

  // A message with its parts as one text, to compare and to show side by side.
  function messageText(message) {
    const lines = [];
    if (message.reasoning) lines.push(`Reasoning:\n${message.reasoning}\n`);
    if (message.tool_call_id) lines.push(`Result of call ${message.tool_call_id}:`);
    lines.push(message.content || "");
    (message.tool_calls || []).forEach((call) => {
      lines.push(`\nTool call ${call.id}: ${call.function.name} ${JSON.stringify(call.function.arguments, null, 2)}`);
    });
    return lines.join("\n");
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
    renderParts(card);
    card.querySelector("textarea[data-content]").focus();
    changed();
    return card;
  }

  function removeLast() {
    const all = cards();
    const last = all[all.length - 1];
    if (!last || last.dataset.locked === "true") return;
    // Written text is only lost after a yes that says how much: its words, reasoning included.
    const parts = readParts(last);
    const written = [last.querySelector("[data-content]").value, parts.reasoning || ""].join(" ");
    const words = written.split(/\s+/).filter(Boolean).length;
    const calls = (parts.tool_calls || []).length;
    if (words || calls) {
      const lost = [words && `${words} word${words === 1 ? "" : "s"}`, calls && `${calls} tool call${calls === 1 ? "" : "s"}`]
        .filter(Boolean)
        .join(" and ");
      const question = `Remove the last turn (${roleOf(last)} message ${all.length})? Its ${lost} will be lost.`;
      if (!window.confirm(question)) return;
    }
    last.remove();
    renumber();
    drawResultSlots();
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
      fillDraft(card, draftText, box);
      box.querySelector(".draft-ready-what").textContent = "It is in the reply below the prompt: edit it freely.";
      return;
    }
    box.querySelector(".draft-beside").textContent = draftText;
    box.querySelector(".draft-beside").hidden = false;
    box.querySelector(".draft-actions").hidden = false;
  }

  // The draft's answer, and its reasoning and tool calls where the model wrote them.
  function fillDraft(card, text, box) {
    const textarea = card.querySelector("textarea[data-content]");
    textarea.value = text;
    textarea.dataset.modelOriginal = text;
    card.querySelector("[data-draft-input]").value = box.dataset.draftRequest;
    const calls = box.querySelector('script[type="application/json"]');
    const parts = readParts(card);
    parts.reasoning = box.querySelector(".draft-reasoning")?.value || "";
    parts.tool_calls = calls ? JSON.parse(calls.textContent) : [];
    card.querySelector("[data-parts-input]").value = partsOf(parts);
    renderParts(card);
    drawResultSlots();
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


  // --- structured parts: reasoning, tool calls and tool results (contract 6) ------------
  // The hidden parts input of each card stays the one source the save, localStorage and the
  // merge read; the fields below are drawn from it and write back to it on every input.

  const reasoningMode = form.dataset.reasoningMode || "off";
  const toolsEl = document.getElementById("project-tools");
  const tools = toolsEl ? JSON.parse(toolsEl.textContent) : [];
  const toolByName = new Map(tools.map((tool) => [tool.function.name, tool.function]));
  let lastMarks = { per_part: [], results: [] };

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    Object.entries(props).forEach(([key, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key in node && !key.includes("-")) node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
    return node;
  }

  function readParts(card) {
    const input = card.querySelector("[data-parts-input]");
    try {
      return input && input.value ? JSON.parse(input.value) : {};
    } catch (error) {
      return {};
    }
  }

  const roleOf = (card) => card.querySelector("[data-role-input]").value;
  let uid = 0;
  const nextUid = () => `part-${(uid += 1)}`;

  function allCallIds() {
    return new Set(cards().flatMap((card) => (readParts(card).tool_calls || []).map((call) => call.id)));
  }

  function newCallId() {
    const taken = allCallIds();
    let id;
    do {
      id = `call_${Math.random().toString(36).slice(2, 10)}`;
    } while (taken.has(id));
    return id;
  }

  function renderParts(card) {
    if (card.dataset.locked === "true" || !card.querySelector("[data-reasoning-slot]")) return;
    const role = roleOf(card);
    const parts = readParts(card);
    const reasoningSlot = card.querySelector("[data-reasoning-slot]");
    const resultSlot = card.querySelector("[data-result-slot]");
    const callsSlot = card.querySelector("[data-calls-slot]");
    [reasoningSlot, resultSlot, callsSlot].forEach((slot) => slot.replaceChildren());
    if (role === "assistant") {
      if (reasoningMode !== "off" || parts.reasoning) reasoningSlot.append(reasoningBox(parts.reasoning || ""));
      const calls = parts.tool_calls || [];
      if (calls.length) {
        callsSlot.append(
          el(
            "div",
            { class: "calls-head" },
            el("h3", { text: "Tool calls" }),
            el("span", { class: "tokens", "data-part-tokens": "tool_calls" }),
          ),
        );
      }
      calls.forEach((call) => callsSlot.append(callBlock(call)));
      if (editable && tools.length) {
        callsSlot.append(el("button", { type: "button", class: "small add-call", "data-action": "add-call", text: "+ Tool call" }));
      }
    } else if (role === "tool") {
      resultSlot.append(resultHeader(card, parts.tool_call_id || ""));
    }
    applyMarks(lastMarks);
  }

  function reasoningBox(text) {
    const id = nextUid();
    const required = reasoningMode === "required";
    const box = el(
      "details",
      { class: `part reasoning-box${required ? " required" : ""}`, "data-reasoning-box": true, open: required || Boolean(text) },
      el(
        "summary",
        {},
        el("span", { class: "part-title", text: "Reasoning" }),
        required ? el("span", { class: "pill warn", text: "required" }) : el("span", { class: "muted small", text: "optional" }),
        el("span", { class: "tokens", "data-part-tokens": "reasoning" }),
      ),
      required
        ? el("p", { class: "muted small hint", text: "This project trains the thinking too: write how you get to the answer (which facts you need, which tool gives them) before you write the answer." })
        : null,
      el("textarea", {
        id,
        "aria-label": "Reasoning",
        rows: 4,
        class: "reasoning-input",
        "data-reasoning": true,
        readOnly: !editable,
        placeholder: "Think step by step before the answer…",
        value: text,
      }),
      el("ul", { class: "part-errors", "data-part-errors": "reasoning" }),
    );
    return box;
  }

  // One call: its id, a tool picker, one field per parameter of the tool's JSON Schema, the
  // arguments as JSON (for nested values or anything the fields do not cover) and its result.
  function callBlock(call) {
    const block = el("section", { class: "tool-call", "data-call": true, id: nextUid(), "aria-label": `Tool call ${call.id}` });
    block.dataset.callId = call.id;
    block.args = call.function && typeof call.function.arguments === "object" && call.function.arguments !== null ? call.function.arguments : {};
    const name = (call.function && call.function.name) || "";
    const picker = el("select", { class: "call-name", "data-call-name": true, disabled: !editable, "aria-label": `Tool of call ${call.id}` });
    if (!toolByName.has(name)) picker.append(el("option", { value: name, text: name ? `${name} (not declared)` : "— choose a tool —" }));
    tools.forEach((tool) => picker.append(el("option", { value: tool.function.name, text: tool.function.name })));
    picker.value = name;
    block.append(
      el(
        "header",
        { class: "tool-call-head" },
        el("span", { class: "pill active", text: "call" }),
        el("code", { class: "call-id", "data-call-id-label": true, text: call.id }),
        el("label", { class: "small" }, "Tool ", picker),
        el("span", { class: "spacer" }),
        editable ? el("button", { type: "button", class: "small link", "data-action": "remove-call", text: "Remove call" }) : null,
      ),
      el("p", { class: "muted small tool-desc", "data-tool-desc": true }),
      el("ul", { class: "part-errors", "data-call-errors": true }),
      el("div", { class: "arg-fields", "data-arg-fields": true }),
      el(
        "details",
        { class: "args-json" },
        el("summary", { text: "Arguments as JSON" }),
        el("textarea", { rows: 4, class: "mono", "data-args-json": true, readOnly: !editable, "aria-label": `Arguments of call ${call.id} as JSON` }),
        el("p", { class: "field-error", "data-args-json-error": true, hidden: true }),
      ),
      el("div", { class: "call-result", "data-call-result": true }),
    );
    drawFields(block);
    return block;
  }

  const schemaType = (schema) =>
    Array.isArray(schema.type) ? schema.type.find((type) => type !== "null") : schema.type;

  function drawFields(block) {
    const tool = toolByName.get(block.querySelector("[data-call-name]").value);
    const fields = block.querySelector("[data-arg-fields]");
    fields.replaceChildren();
    block.querySelector("[data-tool-desc]").textContent = tool ? tool.description || "" : "Choose one of the project's tools.";
    const schema = (tool && tool.parameters) || {};
    const properties = schema.properties || {};
    const required = new Set(schema.required || []);
    Object.entries(properties).forEach(([key, property]) =>
      fields.append(argField(block, key, property || {}, required.has(key), block.args[key])),
    );
    if (tool && !Object.keys(properties).length) {
      fields.append(el("p", { class: "muted small", text: "This tool's parameters have no fields: write the arguments as JSON below." }));
      block.querySelector(".args-json").open = true;
    }
    const json = block.querySelector("[data-args-json]");
    if (document.activeElement !== json) json.value = JSON.stringify(block.args, null, 2);
  }

  function argField(block, key, schema, required, value) {
    const id = `${block.id}-${key}`;
    const type = schemaType(schema);
    let input;
    let kind = type;
    if (Array.isArray(schema.enum)) {
      kind = "enum";
      input = el("select", {}, el("option", { value: "", text: "— choose —" }));
      schema.enum.forEach((choice) => input.append(el("option", { value: JSON.stringify(choice), text: String(choice) })));
      input.value = value === undefined ? "" : JSON.stringify(value);
    } else if (type === "boolean") {
      input = el("select", {}, ...["", "true", "false"].map((v) => el("option", { value: v, text: v || "— not set —" })));
      input.value = value === undefined ? "" : String(value);
    } else if (type === "integer" || type === "number") {
      input = el("input", { type: "number", step: type === "integer" ? "1" : "any", inputMode: type === "integer" ? "numeric" : "decimal" });
      if (schema.minimum !== undefined) input.min = schema.minimum;
      if (schema.maximum !== undefined) input.max = schema.maximum;
      input.value = value === undefined ? "" : String(value);
    } else if (type === "string") {
      const long = /code|program|script|text|content|body|sql|html/i.test(key) || (value || "").includes?.("\n");
      input = long ? el("textarea", { rows: 4, class: "mono" }) : el("input", { type: "text" });
      input.value = value === undefined ? "" : String(value);
    } else {
      // Nested objects, arrays and untyped values: raw JSON.
      kind = "json";
      input = el("textarea", { rows: 3, class: "mono", placeholder: type === "array" ? "[ … ]" : "{ … }" });
      input.value = value === undefined ? "" : JSON.stringify(value, null, 2);
    }
    Object.assign(input, { id, disabled: !editable && input.tagName === "SELECT", readOnly: !editable });
    input.dataset.arg = key;
    input.dataset.kind = kind;
    if (required) input.required = true;
    return el(
      "div",
      { class: "field arg-field", "data-field": key },
      el(
        "label",
        { for: id },
        el("code", { text: key }),
        " ",
        el("span", { class: "arg-type", text: kind === "enum" ? "one of" : type || "JSON" }),
        required ? el("span", { class: "arg-required", text: " required" }) : null,
      ),
      schema.description ? el("span", { class: "help", text: schema.description }) : null,
      input,
      el("p", { class: "field-error", "data-arg-error": key, hidden: true }),
    );
  }

  // The fields' values as arguments; a value the schema would refuse is still sent as typed
  // (the server's check, the authority, says what is wrong and where).
  function readArguments(block) {
    const tool = toolByName.get(block.querySelector("[data-call-name]").value);
    const known = new Set(Object.keys((tool && tool.parameters && tool.parameters.properties) || {}));
    const args = Object.fromEntries(Object.entries(block.args).filter(([key]) => !known.has(key)));
    block.querySelectorAll("[data-arg]").forEach((input) => {
      const raw = input.value;
      const errorEl = block.querySelector(`[data-arg-error="${CSS.escape(input.dataset.arg)}"]`);
      if (input.dataset.kind === "json") setError(errorEl, "");
      if (raw === "") return; // not set: the schema says whether it is required
      switch (input.dataset.kind) {
        case "integer":
        case "number": {
          const number = Number(raw);
          args[input.dataset.arg] = Number.isFinite(number) ? number : raw;
          break;
        }
        case "boolean":
          args[input.dataset.arg] = raw === "true";
          break;
        case "enum":
          args[input.dataset.arg] = JSON.parse(raw);
          break;
        case "json":
          try {
            args[input.dataset.arg] = JSON.parse(raw);
          } catch (error) {
            args[input.dataset.arg] = raw;
            setError(errorEl, `Not valid JSON: ${error.message}`);
          }
          break;
        default:
          args[input.dataset.arg] = raw;
      }
    });
    return args;
  }

  function setError(node, text) {
    if (!node) return;
    node.textContent = text;
    node.hidden = !text;
  }

  function resultHeader(card, callId) {
    const id = nextUid();
    const picker = el("select", { id, "data-result-for": true, disabled: !editable });
    const calls = callsBefore(card);
    if (!calls.some((call) => call.id === callId)) {
      picker.append(el("option", { value: callId, text: callId ? `${callId} (no such call before)` : "— choose the call —" }));
    }
    calls.forEach((call) => picker.append(el("option", { value: call.id, text: `${call.id} · ${call.function.name}` })));
    picker.value = callId;
    return el(
      "div",
      { class: "result-head" },
      el("label", { for: id, class: "small" }, "Result of call "),
      picker,
      el("span", { class: "muted small", text: "Paste what the tool returned, exactly." }),
      el("ul", { class: "part-errors", "data-part-errors": "result" }),
    );
  }

  // The calls of the assistant message this tool message follows (results come right after).
  function callsBefore(card) {
    const all = cards();
    for (let index = all.indexOf(card) - 1; index >= 0; index -= 1) {
      const role = roleOf(all[index]);
      if (role === "assistant") return readParts(all[index]).tool_calls || [];
      if (role !== "tool") return [];
    }
    return [];
  }

  // Reads a card's part fields back into its parts input.
  function syncParts(card) {
    const parts = readParts(card);
    const reasoning = card.querySelector("[data-reasoning]");
    if (reasoning) parts.reasoning = reasoning.value;
    if (roleOf(card) === "assistant" && card.querySelector("[data-calls-slot]")) {
      parts.tool_calls = Array.from(card.querySelectorAll("[data-call]")).map((block) => ({
        id: block.dataset.callId,
        type: "function",
        function: { name: block.querySelector("[data-call-name]").value, arguments: block.args },
      }));
    }
    const resultFor = card.querySelector("[data-result-for]");
    if (resultFor) parts.tool_call_id = resultFor.value;
    card.querySelector("[data-parts-input]").value = partsOf(parts);
  }

  function addCall(card) {
    syncParts(card);
    const parts = readParts(card);
    const first = tools[0].function.name;
    parts.tool_calls = [...(parts.tool_calls || []), { id: newCallId(), type: "function", function: { name: first, arguments: {} } }];
    card.querySelector("[data-parts-input]").value = partsOf(parts);
    renderParts(card);
    const blocks = card.querySelectorAll("[data-call]");
    const block = blocks[blocks.length - 1];
    (block.querySelector("[data-arg]") || block.querySelector("[data-call-name]")).focus();
    partsChanged();
  }

  function removeCall(block) {
    const card = block.closest("[data-message]");
    block.remove();
    syncParts(card);
    renderParts(card);
    partsChanged();
  }

  // A tool message answering `callId`, placed after the assistant message and its results.
  function addResult(card, callId) {
    const all = cards();
    let after = card;
    for (let index = all.indexOf(card) + 1; index < all.length && roleOf(all[index]) === "tool"; index += 1) {
      after = all[index];
    }
    const result = newCard("tool");
    result.querySelector("[data-parts-input]").value = partsOf({ tool_call_id: callId });
    after.after(result);
    renumber();
    renderParts(result);
    result.querySelector("textarea[data-content]").focus();
    partsChanged();
  }

  // Each call's result slot: the tool message answering it, or a button to add one.
  function drawResultSlots() {
    const all = cards();
    all.forEach((card, position) => {
      card.querySelectorAll("[data-call]").forEach((block) => {
        const slot = block.querySelector("[data-call-result]");
        slot.replaceChildren();
        let answer = null;
        for (let index = position + 1; index < all.length && roleOf(all[index]) === "tool"; index += 1) {
          if (readParts(all[index]).tool_call_id === block.dataset.callId) answer = index;
        }
        if (answer !== null) {
          const text = all[answer].querySelector("[data-content]").value;
          slot.append(
            el("span", { class: "pill ok", text: "result" }),
            " ",
            el("a", { href: `#card-${answer}`, text: `message #${answer + 1}` }),
            el("span", { class: "muted small result-excerpt", text: text ? ` ${text.slice(0, 120)}` : " (empty yet)" }),
          );
        } else {
          slot.append(el("span", { class: "pill warn", text: "no result yet" }));
          if (editable) slot.append(" ", el("button", { type: "button", class: "small", "data-action": "add-result", text: "+ Tool result" }));
        }
      });
    });
  }

  function partsChanged() {
    drawResultSlots();
    changed();
  }

  // Tokens per part and each check's reason on the turn, part, call or argument it names.
  function applyMarks(marks) {
    lastMarks = marks;
    const all = cards();
    all.forEach((card, position) => {
      const counts = marks.per_part[position] || {};
      card.querySelectorAll("[data-part-tokens]").forEach((badge) => {
        const count = counts[badge.dataset.partTokens];
        badge.textContent = count === undefined ? "" : `${count} tokens`;
      });
      card.querySelectorAll("[data-part-errors], [data-call-errors]").forEach((list) => list.replaceChildren());
      card.querySelectorAll("[data-arg-error]").forEach((node) => {
        if (node.previousElementSibling?.dataset.kind !== "json" || !node.textContent.startsWith("Not valid JSON")) setError(node, "");
      });
      card.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
      card.classList.remove("has-blocking");
    });
    marks.results.forEach((result) => {
      const card = all[result.position];
      if (!card) return;
      if (result.blocking) card.classList.add("has-blocking");
      const item = el("li", { class: `check-${result.blocking ? "blocking" : "warning"}`, text: result.message });
      if (result.part === "tool_call" && result.call_id) {
        const block = Array.from(card.querySelectorAll("[data-call]")).find((b) => b.dataset.callId === result.call_id);
        if (block && markArgument(block, result)) return;
        (block?.querySelector("[data-call-errors]") || card.querySelector('[data-part-errors="content"]'))?.append(item);
        return;
      }
      const list = card.querySelector(`[data-part-errors="${result.part || "content"}"]`) || card.querySelector('[data-part-errors="content"]');
      list?.append(item);
    });
  }

  // An argument error shown under the field it concerns (a missing required one too).
  function markArgument(block, result) {
    const match = /\.function\.arguments(?:\.([A-Za-z_][A-Za-z0-9_]*)|\["((?:[^"\\]|\\.)*)"\])?/.exec(result.path || "");
    if (!match) return false;
    let key = match[1] || (match[2] !== undefined ? JSON.parse(`"${match[2]}"`) : null);
    if (!key) {
      const missing = /'([^']+)' is a required property/.exec(result.message);
      key = missing ? missing[1] : null;
    }
    const input = key && block.querySelector(`[data-arg="${CSS.escape(key)}"]`);
    if (!input) return false;
    input.setAttribute("aria-invalid", "true");
    setError(block.querySelector(`[data-arg-error="${CSS.escape(key)}"]`), result.message);
    return true;
  }

  function readMarks() {
    const holder = document.querySelector("#checks [data-check-marks]");
    if (!holder) return;
    try {
      applyMarks(JSON.parse(holder.dataset.checkMarks));
    } catch (error) {
      /* no marks */
    }
  }

  // The checks box is swapped in after each change; its marks go onto the cards.
  document.body.addEventListener("htmx:afterSettle", readMarks);

  form.addEventListener("input", (event) => {
    const target = event.target;
    const card = target.closest("[data-message]");
    if (!card) return;
    const block = target.closest("[data-call]");
    if (block && target.matches("[data-arg]")) {
      block.args = readArguments(block);
      const json = block.querySelector("[data-args-json]");
      json.value = JSON.stringify(block.args, null, 2);
    } else if (block && target.matches("[data-args-json]")) {
      const errorEl = block.querySelector("[data-args-json-error]");
      let parsed;
      try {
        parsed = JSON.parse(target.value);
      } catch (error) {
        setError(errorEl, `Not valid JSON: ${error.message}`);
        return;
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        setError(errorEl, "The arguments must be a JSON object: { … }");
        return;
      }
      setError(errorEl, "");
      block.args = parsed;
      drawFields(block);
    } else if (target.matches("textarea[data-content]") && roleOf(card) === "tool") {
      drawResultSlots();
      return;
    } else if (!target.matches("[data-reasoning]")) {
      return;
    }
    syncParts(card);
    changed();
  });

  form.addEventListener("change", (event) => {
    const target = event.target;
    const card = target.closest("[data-message]");
    if (!card) return;
    if (target.matches("[data-call-name]")) {
      // Another tool: keep only the arguments its schema also has.
      const block = target.closest("[data-call]");
      const tool = toolByName.get(target.value);
      const known = (tool && tool.parameters && tool.parameters.properties) || {};
      block.args = Object.fromEntries(Object.entries(block.args).filter(([key]) => key in known));
      syncParts(card);
      renderParts(card);
      partsChanged();
    } else if (target.matches("[data-result-for]")) {
      syncParts(card);
      partsChanged();
    }
  });

  // --- events ---------------------------------------------------------------------------

  form.addEventListener("input", (event) => {
    if (event.target.matches("textarea[data-content]")) changed();
  });
  form.addEventListener("focusout", (event) => {
    if (event.target.closest("[data-message]") && dirty) save();
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
      case "add-call":
        addCall(card);
        break;
      case "remove-call":
        removeCall(button.closest("[data-call]"));
        break;
      case "add-result":
        addResult(card, button.closest("[data-call]").dataset.callId);
        break;
      case "draft":
        requestDraft(card);
        break;
      case "use-draft": {
        const box = button.closest("[data-draft-ready]");
        fillDraft(card, box.querySelector(".draft-text").value, box);
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
    // From any field of a card (its reasoning, a call's argument, the answer) to the next card.
    const fields = cards()
      .map((card) => card.querySelector("textarea[data-content]"))
      .filter(Boolean);
    const current = document.activeElement?.closest?.("[data-message]");
    const index = fields.findIndex((field) => field.closest("[data-message]") === current);
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

  // The editor opens with the cursor where the work is: the first empty assistant reply
  // (else the first reply, e.g. an AI draft to correct).
  function focusFirstReply() {
    if (!editable) return;
    const replies = cards()
      .filter((card) => roleOf(card) === "assistant" && card.dataset.locked !== "true")
      .map((card) => card.querySelector("textarea[data-content]"))
      .filter((field) => field && !field.hidden);
    const target = replies.find((field) => !field.value.trim()) || replies[0];
    if (target) target.focus();
  }

  renumber();
  cards().forEach(renderParts);
  drawResultSlots();
  readMarks();
  restore();
  watchLease();
  focusFirstReply();
})();
