// A send's live progress on its dashboard page (/admin/sends/ID, templates/default/admin/send.html.j2).
//
// Every 2 seconds it asks the page's progress URL (/admin/sends/ID/progress, JSON) and puts the
// numbers into the page: the <progress> bar, the short status text (aria-live, so screen readers
// hear it when it changes), and the counts marked data-count="LOCALE:STATE" or "all:STATE". It
// stops when the send is finished, or when the answer is not the JSON it expects (a session that
// ended gets the login page). The page works without it: its numbers are rendered by the server,
// and a reload shows the current ones. It holds no text of its own: the page's data-phase-*
// attributes name the phases in the reader's language.
"use strict";

(() => {
  const EVERY = 2000;
  const live = document.getElementById("nl-live");
  if (!live || live.dataset.finished === "true") {
    return;
  }
  const url = live.dataset.progressUrl;

  const setText = (element, text) => {
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  };

  const field = (name) => live.querySelector(`[data-field="${name}"]`);

  const show = (progress) => {
    const bar = live.querySelector("progress");
    if (bar) {
      bar.value = progress.percent;
      bar.textContent = `${progress.percent}%`;
    }
    setText(field("percent"), String(progress.percent));
    setText(field("done"), String(progress.done));
    setText(field("total"), String(progress.total));
    setText(field("phase"), live.dataset[`phase${progress.phase[0].toUpperCase()}${progress.phase.slice(1)}`] || progress.phase);
    const counts = { all: progress.states, ...progress.locales };
    for (const cell of document.querySelectorAll("[data-count]")) {
      const [locale, state] = cell.dataset.count.split(":");
      const byState = counts[locale] || {};
      setText(cell, String(state === "total"
        ? Object.values(byState).reduce((sum, n) => sum + n, 0)
        : byState[state] || 0));
    }
    for (const element of document.querySelectorAll("[data-while-queueing]")) {
      element.hidden = progress.phase !== "queueing"; // Its recipients all queued: nothing to add.
    }
    if (progress.finished) {
      live.dataset.finished = "true";
      for (const element of document.querySelectorAll("[data-while-unfinished]")) {
        element.hidden = true;
      }
    }
  };

  const poll = () => {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then((answer) => {
        const json = (answer.headers.get("Content-Type") || "").startsWith("application/json");
        return answer.ok && json ? answer.json() : null;
      })
      .then((progress) => {
        if (progress === null) {
          return; // Not ours to read (the session ended): a reload shows why.
        }
        show(progress);
        if (!progress.finished) {
          window.setTimeout(poll, EVERY);
        }
      })
      .catch(() => window.setTimeout(poll, EVERY * 5)); // The network or server is away: later.
  };

  window.setTimeout(poll, EVERY);
})();
