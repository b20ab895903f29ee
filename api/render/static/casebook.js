// The case book's only script, served by Reclaim: it adds "Copy" buttons to drafted
// messages, and on a case's page says when the case changes elsewhere (another tab, a
// colleague, the API). Every page works without it (the messages are in read-only fields
// to select; a form drawn from an old version is refused and says so).
"use strict";
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (error) {
      field.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 2000);
  });
});

// A case's page: its stream (/app/cases/<id>/changes, Server-Sent Events of the case's new
// events) reveals the "this case changed, reload" notice (role="status") once a version
// newer than the one shown is recorded. The browser reconnects by itself, resuming after
// the last event it was sent.
(() => {
  const region = document.getElementById("case-changed");
  if (!region || !window.EventSource) return;
  const now = region.querySelector("[data-now]");
  const shown = Number(region.dataset.version);
  let latest = shown;
  const source = new EventSource(region.dataset.changes);
  source.addEventListener("message", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (!(event.version > latest)) return;
    latest = event.version;
    if (region.hidden) {
      region.hidden = false;
      // written once shown, so that screen readers announce the status
      setTimeout(() => { now.textContent = String(latest); }, 100);
    } else {
      now.textContent = String(latest);
    }
  });
  window.addEventListener("pagehide", () => source.close());
})();
