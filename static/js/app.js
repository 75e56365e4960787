// Small page helpers shared by every screen. Page-specific code lives beside its page.
// The Content-Security-Policy allows no inline script, event attribute or style attribute:
// behaviour that templates would otherwise inline is declared with data- attributes here.
document.addEventListener("DOMContentLoaded", () => {
  const path = window.location.pathname;
  document.querySelectorAll(".nav a").forEach((link) => {
    if (path.startsWith(new URL(link.href).pathname)) link.setAttribute("aria-current", "page");
  });
});

// <select data-submit-on-change>: choosing an option submits its form.
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-submit-on-change]")) event.target.form.requestSubmit();
});

// Progress bars: <span data-percent="42"> gets its width through the CSSOM, which the
// policy allows, on the page and in every fragment htmx swaps in.
htmx.onLoad((root) => {
  const bars = root.matches?.("[data-percent]") ? [root] : [];
  bars.push(...(root.querySelectorAll?.("[data-percent]") ?? []));
  bars.forEach((bar) => {
    bar.style.width = `${bar.dataset.percent}%`;
  });
});

// <form data-confirm="question">: submitting asks first (a destructive action).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
