// Labeler home: a live countdown of each lease. Progressive enhancement: the page already
// says "1 hour, 42 minutes left"; this keeps that figure current to the second.
// The server sends the seconds left at render time, so a wrong clock on this computer
// does not shift the countdown.
(() => {
  const EXPIRED = "expired — press Next task to continue";
  const pad = (n) => String(n).padStart(2, "0");

  function format(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return h ? `${h}:${pad(m)}:${pad(s)} left` : `${m}:${pad(s)} left`;
  }

  function start(root) {
    root.querySelectorAll("[data-lease-seconds]").forEach((el) => {
      if (el.leaseDeadline) return;
      el.leaseDeadline = performance.now() + Number(el.dataset.leaseSeconds) * 1000;
    });
  }

  function tick() {
    document.querySelectorAll("[data-lease-seconds]").forEach((el) => {
      if (!el.leaseDeadline) return;
      const left = Math.ceil((el.leaseDeadline - performance.now()) / 1000);
      if (left > 0) {
        el.textContent = format(left);
        return;
      }
      el.textContent = EXPIRED;
      el.removeAttribute("data-lease-seconds");
      el.closest(".lease")?.classList.add("expired");
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    start(document);
    tick();
    setInterval(tick, 1000);
  });
  // The task list is swapped by htmx after a skip: count down the new rows too.
  document.addEventListener("htmx:afterSettle", (event) => {
    start(event.target);
    tick();
  });
})();
