// Small page helpers shared by every screen. Page-specific code lives beside its page.
document.addEventListener("DOMContentLoaded", () => {
  const path = window.location.pathname;
  document.querySelectorAll(".nav a").forEach((link) => {
    if (path.startsWith(new URL(link.href).pathname)) link.setAttribute("aria-current", "page");
  });
});
