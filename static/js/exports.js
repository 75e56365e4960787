// Export page: when an htmx fragment (the estimate or the token preview) reports settings
// to fix, mark those fields in the form, which the fragment does not re-render, and clear
// the marks once a fragment reports none.
htmx.onLoad((root) => {
  const fragment = root.closest?.("#estimate, #preview");
  if (!fragment) return;
  const form = document.getElementById("export-form");
  form.querySelectorAll("[data-marked-by-fragment]").forEach((input) => {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("data-marked-by-fragment");
    input.closest(".field")?.classList.remove("has-error");
  });
  fragment.querySelectorAll("[data-field-id]").forEach((item) => {
    const input = document.getElementById(item.dataset.fieldId);
    if (!input) return;
    // A group of checkboxes has its first box's id: mark every box of the group.
    const group = input.name ? form.querySelectorAll(`[name="${input.name}"]`) : [input];
    group.forEach((box) => {
      box.setAttribute("aria-invalid", "true");
      box.setAttribute("data-marked-by-fragment", "");
    });
    input.closest(".field")?.classList.add("has-error");
  });
});
