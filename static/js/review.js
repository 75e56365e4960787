// Review page: keyboard shortcuts (a approve, c request changes, r reject, 1-5 score, ? help)
// and a confirmation before the final "reject".
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("decision-form");
  const help = document.getElementById("review-help");
  const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) && el.type !== "radio";

  document.querySelectorAll("[data-help-open]").forEach((button) =>
    button.addEventListener("click", () => help && help.showModal()));

  document.querySelectorAll("button[data-confirm]").forEach((button) =>
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    }));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(document.activeElement)) return;
    if (event.key === "?") {
      event.preventDefault();
      if (help) help.open ? help.close() : help.showModal();
      return;
    }
    if (!form || (help && help.open)) return;
    const focused = document.activeElement;
    if (/^[1-5]$/.test(event.key) && focused && focused.type === "radio") {
      const choice = focused.closest("fieldset").querySelector(`input[value="${event.key}"]`);
      if (choice) { choice.checked = true; choice.focus(); event.preventDefault(); }
      return;
    }
    const button = form.querySelector(`button[data-shortcut="${event.key}"]`);
    if (!button) return;
    event.preventDefault();
    const comment = form.querySelector("#review-comment");
    const unscored = [...form.querySelectorAll("fieldset.score")].find(
      (set) => !set.querySelector("input:checked"));
    if (event.key === "a" && unscored) {
      unscored.querySelector("input").focus();
      unscored.classList.add("needs-score");
      return;
    }
    if (event.key !== "a" && comment && !comment.value.trim()
        && ![...document.querySelectorAll("textarea[form='decision-form']")].some((t) => t.value.trim())) {
      comment.focus();
      comment.placeholder = event.key === "r" ? "Give the reason for rejecting, then press Reject." : "Say what to change, then press Request changes.";
      return;
    }
    button.click();
  });
});
