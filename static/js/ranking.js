// Ranking tasks: order candidate replies by drag and drop or by keyboard (number keys set a
// rank, equal numbers tie), keep the rank selects the form posts in step, and on the
// labeler's page autosave through the JSON API with the version edited. User text is only
// ever read from fields, never put into the page as HTML.
(() => {
  "use strict";

  const board = document.querySelector("[data-ranking-board]");
  if (!board) return;
  const editable = board.dataset.editable === "true";
  const count = Number(board.dataset.count);
  const selects = new Map(
    Array.from(board.querySelectorAll("[data-rank-select]")).map((select) => [
      select.closest("[data-candidate]").dataset.candidate, select,
    ]),
  );
  const lanes = Array.from(board.querySelectorAll("[data-lane]"));
  const form = document.getElementById("ranking-form"); // the labeler's page only
  const stateEl = document.getElementById("save-state");
  const SAVE_PAUSE_MS = 600;

  // --- ranks ------------------------------------------------------------------------------

  const rankOf = (id) => (selects.get(id).value ? Number(selects.get(id).value) : null);

  function render() {
    selects.forEach((select, id) => {
      const lane = lanes.find((item) => item.dataset.lane === select.value);
      const chip = board.querySelector(`[data-chip="${id}"]`);
      if (lane && chip) lane.querySelector("[data-lane-chips]").appendChild(chip);
      board.querySelector(`[data-candidate="${id}"]`).classList.toggle("ranked", Boolean(select.value));
    });
  }

  function setRank(id, rank) {
    if (!editable || !selects.has(id)) return;
    const value = rank === null ? "" : String(Math.min(Math.max(rank, 1), count));
    if (selects.get(id).value === value) return;
    selects.get(id).value = value;
    render();
    changed();
    announce(`Candidate ${letterOf(id)}: ${value ? `rank ${value}` : "not ranked"}`);
  }

  const letterOf = (id) => board.querySelector(`[data-candidate="${id}"]`).dataset.letter;

  function order() {
    const groups = new Map();
    selects.forEach((select, id) => {
      if (!select.value) return;
      const rank = Number(select.value);
      if (!groups.has(rank)) groups.set(rank, []);
      groups.get(rank).push(Number(id));
    });
    return Array.from(groups.keys()).sort((a, b) => a - b).map((rank) => groups.get(rank).sort((a, b) => a - b));
  }

  function announce(text) {
    if (stateEl && !form) stateEl.textContent = text;
  }

  // --- keyboard ---------------------------------------------------------------------------

  function candidateIdOf(element) {
    if (!element) return null;
    if (element.dataset.chip) return element.dataset.chip;
    if (element.dataset.candidate) return element.dataset.candidate;
    return null;
  }

  board.addEventListener("keydown", (event) => {
    // Only on a focused candidate card or chip, never while typing in one of its fields.
    const id = candidateIdOf(event.target);
    if (!id || !editable || event.ctrlKey || event.metaKey) return;
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      const current = rankOf(id);
      const next = current === null ? 1 : current + (event.key === "ArrowUp" ? -1 : 1);
      setRank(id, next);
      event.preventDefault();
      return;
    }
    if (event.altKey) return;
    if (/^[1-9]$/.test(event.key) && Number(event.key) <= count) {
      setRank(id, Number(event.key));
      event.preventDefault();
    } else if (event.key === "0" || event.key === "Backspace" || event.key === "Delete") {
      setRank(id, null);
      event.preventDefault();
    }
  });

  selects.forEach((select) => select.addEventListener("change", () => { render(); changed(); }));

  // --- drag and drop ----------------------------------------------------------------------

  board.querySelectorAll("[data-chip]").forEach((chip) => {
    chip.tabIndex = 0;
    chip.draggable = editable;
    chip.setAttribute("role", "button");
    chip.setAttribute("aria-label", `Candidate ${letterOf(chip.dataset.chip)}`);
  });
  // A chip, or a candidate by its header (its text stays selectable).
  const draggedIdOf = (element) => element.dataset.chip
    || (element.matches("[data-drag-handle]") ? element.closest("[data-candidate]").dataset.candidate : null);
  board.addEventListener("dragstart", (event) => {
    const id = draggedIdOf(event.target);
    if (!id || !editable) return;
    event.dataTransfer.setData("text/plain", id);
    event.dataTransfer.effectAllowed = "move";
  });
  lanes.forEach((lane) => {
    lane.addEventListener("dragover", (event) => {
      if (!editable) return;
      event.preventDefault();
      lane.classList.add("drop-target");
    });
    lane.addEventListener("dragleave", () => lane.classList.remove("drop-target"));
    lane.addEventListener("drop", (event) => {
      event.preventDefault();
      lane.classList.remove("drop-target");
      const id = event.dataTransfer.getData("text/plain");
      setRank(id, lane.dataset.lane ? Number(lane.dataset.lane) : null);
    });
  });

  // --- the labeler's autosave -------------------------------------------------------------

  if (!form) return;
  const apiUrl = form.dataset.apiUrl;
  const versionInput = form.querySelector("[data-version-input]");
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"];
  const betterReply = document.getElementById("better-reply");
  const comment = document.getElementById("ranking-comment");
  const betterFirst = board.querySelector("[data-better-first]");
  let timer = null;
  let saving = null;
  let dirty = false;

  function flags() {
    const result = {};
    board.querySelectorAll("[data-flag]:checked").forEach((box) => {
      const id = box.closest("[data-candidate]").dataset.candidate;
      (result[id] = result[id] || []).push(box.value);
    });
    return result;
  }

  function changed() {
    if (!form || form.dataset.editable !== "true") return;
    dirty = true;
    stateEl.textContent = "Unsaved changes…";
    clearTimeout(timer);
    timer = setTimeout(save, SAVE_PAUSE_MS);
  }

  async function save() {
    clearTimeout(timer);
    timer = null;
    if (saving) await saving;
    if (!dirty) return;
    dirty = false;
    stateEl.textContent = "Saving…";
    saving = (async () => {
      try {
        const response = await fetch(apiUrl, {
          method: "PATCH",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
          body: JSON.stringify({
            version: Number(versionInput.value),
            order: order(),
            flags: flags(),
            comment: comment.value,
            better_reply: betterReply.value,
          }),
        });
        const body = await response.json().catch(() => ({}));
        if (response.ok) {
          versionInput.value = body.version;
          stateEl.textContent = `Saved ${new Date().toLocaleTimeString()}`;
        } else if (response.status === 409) {
          stateEl.textContent = "Saved elsewhere meanwhile (another tab?): reload to see the saved ranking.";
        } else {
          stateEl.textContent = (body.error && body.error.message) || `Not saved (error ${response.status}).`;
        }
      } catch (error) {
        dirty = true;
        stateEl.textContent = "Offline: not saved yet, retrying…";
        timer = setTimeout(save, 3000);
      }
    })();
    await saving;
    saving = null;
  }

  board.querySelectorAll("[data-flag]").forEach((box) => box.addEventListener("change", changed));
  [comment, betterReply].forEach((field) => field && field.addEventListener("input", changed));
  if (betterReply && betterFirst) {
    betterReply.addEventListener("input", () => { betterFirst.hidden = !betterReply.value.trim(); });
  }

  // Submit posts every field with the version; wait for a save in flight so the version is its.
  form.addEventListener("submit", async (event) => {
    if (!saving && !timer) return;
    event.preventDefault();
    clearTimeout(timer);
    timer = null;
    dirty = false;
    if (saving) await saving;
    form.submit();
  });
})();
