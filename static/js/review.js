// Review page: keyboard shortcuts (a approve, c request changes, r reject, 1-5 score, ? help).
// A single key never decides at once: a and c wait a few seconds with Undo (Esc) and Send now
// (Enter); r, which is final, asks to confirm. Before anything is asked or sent, the page
// names what the server would refuse: each missing score, the missing reason.
document.addEventListener("DOMContentLoaded", () => {
  const UNDO_SECONDS = 5;
  const form = document.getElementById("decision-form");
  const help = document.getElementById("review-help");
  const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) && el.type !== "radio";

  document.querySelectorAll("[data-help-open]").forEach((button) =>
    button.addEventListener("click", () => help && help.showModal()));

  if (!form) {
    document.addEventListener("keydown", (event) => {
      if (event.key === "?" && !typing(document.activeElement) && help) {
        event.preventDefault();
        help.open ? help.close() : help.showModal();
      }
    });
    return;
  }

  const comment = form.querySelector("#review-comment");
  const commentError = document.getElementById("comment-error");
  const summary = document.getElementById("decision-errors");
  const pendingBar = document.getElementById("decision-pending");
  const pendingText = pendingBar.querySelector("[data-pending-text]");
  const scoreSets = [...form.querySelectorAll("fieldset.score")];
  let pending = null; // {button, timer, secondsLeft} while a single-key decision waits

  // --- what the server would refuse, said beside the field and in the summary ----------

  function markScores(showAll) {
    const missing = scoreSets.filter((set) => !set.querySelector("input:checked"));
    scoreSets.forEach((set) => {
      const shown = missing.includes(set) && (showAll || set.classList.contains("needs-score"));
      set.classList.toggle("needs-score", shown);
      set.querySelector(".field-error").hidden = !shown;
    });
    const listed = missing.filter((set) => set.classList.contains("needs-score"));
    const items = listed.map((set) => {
      const link = document.createElement("a");
      link.href = `#${set.id}`;
      link.textContent = `Score missing: ${set.dataset.label}`;
      const item = document.createElement("li");
      item.append(link);
      return item;
    });
    summary.querySelector("ul").replaceChildren(...items);
    summary.hidden = !items.length;
    return missing;
  }

  function reasonProblem(decision) {
    if (decision === "reject" && !comment.value.trim()) {
      return "Give the reason for rejecting here first: the labeler reads it.";
    }
    const messageComments = [...document.querySelectorAll("textarea[form='decision-form']")];
    if (decision === "request_changes" && !comment.value.trim() && !messageComments.some((t) => t.value.trim())) {
      return "Say what to change, here or on a message.";
    }
    return "";
  }

  // True when the decision may go on to its confirmation; otherwise shows why and focuses it.
  function ready(button) {
    const decision = button.value;
    if (decision === "approve") {
      const missing = markScores(true);
      if (missing.length) {
        missing[0].querySelector("input").focus();
        return false;
      }
    }
    const problem = reasonProblem(decision);
    commentError.textContent = problem;
    commentError.hidden = !problem;
    if (problem) {
      comment.setAttribute("aria-invalid", "true");
      comment.focus();
      return false;
    }
    comment.removeAttribute("aria-invalid");
    return true;
  }

  form.addEventListener("change", (event) => {
    if (event.target.type === "radio") markScores(false);
  });
  comment.addEventListener("input", () => {
    if (!commentError.hidden && comment.value.trim()) {
      commentError.hidden = true;
      comment.removeAttribute("aria-invalid");
    }
  });

  // A click (or Enter on a button) checks first; Reject then asks, since it is final.
  form.addEventListener("click", (event) => {
    const button = event.target.closest("button[name=decision]");
    if (!button) return;
    cancelPending();
    if (!ready(button) || (button.dataset.final && !window.confirm(button.dataset.final))) {
      event.preventDefault();
    }
  });

  // --- a single key: a few seconds to undo ----------------------------------------------

  const PENDING_WORDS = { approve: "Approving", request_changes: "Requesting changes" };

  function showCountdown() {
    pendingText.textContent = `${PENDING_WORDS[pending.button.value]} in ${pending.secondsLeft} s…`;
  }

  function startPending(button) {
    pending = { button, secondsLeft: UNDO_SECONDS };
    showCountdown();
    pendingBar.hidden = false;
    pending.timer = setInterval(() => {
      pending.secondsLeft -= 1;
      if (pending.secondsLeft <= 0) sendPending();
      else showCountdown();
    }, 1000);
  }

  function cancelPending() {
    if (!pending) return;
    clearInterval(pending.timer);
    pending = null;
    pendingBar.hidden = true;
  }

  function sendPending() {
    const { button } = pending;
    clearInterval(pending.timer);
    pendingText.textContent = `${PENDING_WORDS[button.value]}…`;
    pendingBar.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    form.requestSubmit(button);
  }

  pendingBar.addEventListener("click", (event) => {
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (!pending) return;
    if (action === "undo-decision") cancelPending();
    if (action === "send-decision") sendPending();
  });

  document.addEventListener("keydown", (event) => {
    if (pending && event.key === "Escape") {
      event.preventDefault();
      cancelPending();
      return;
    }
    // Enter sends now, unless it belongs to a field, a link or a button (Undo itself).
    const interactive = (el) => typing(el) || (el && ["A", "BUTTON"].includes(el.tagName));
    if (pending && event.key === "Enter" && !interactive(document.activeElement)) {
      event.preventDefault();
      sendPending();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(document.activeElement)) return;
    if (event.key === "?") {
      event.preventDefault();
      if (help) help.open ? help.close() : help.showModal();
      return;
    }
    if (help && help.open) return;
    const focused = document.activeElement;
    if (/^[1-5]$/.test(event.key) && focused && focused.type === "radio") {
      const choice = focused.closest("fieldset").querySelector(`input[value="${event.key}"]`);
      if (choice) {
        choice.checked = true;
        choice.focus();
        markScores(false);
        event.preventDefault();
      }
      return;
    }
    const button = form.querySelector(`button[data-shortcut="${event.key}"]`);
    if (!button) return;
    event.preventDefault();
    if (pending || !ready(button)) return;
    if (button.dataset.final) {
      if (window.confirm(button.dataset.final)) form.requestSubmit(button);
      return;
    }
    startPending(button);
  });
});
