// A client's record for their clinician: readiness to end, goals, values, notes, progress.

import { ApiError, api, displayName, requireUser } from "./api.js";
import { renderProgress } from "./charts.js";
import { $, dayOf, h, say, topbar } from "./ui.js";

await requireUser("clinician");
topbar();
const status = $("#status");
const clientId = new URLSearchParams(location.search).get("id");
let goals = [];

async function loadReadiness() {
  const relationship = (await api("/v1/care-relationships")).find((r) => r.client_id === clientId && r.status === "active");
  const box = $("#readiness");
  if (!relationship) {
    box.replaceChildren(h("p", { class: "empty" }, "No active care relationship."));
    return;
  }
  const r = await api(`/v1/care-relationships/${relationship.id}/readiness`);
  box.replaceChildren(
    h("p", {}, h("span", { class: `badge ${r.ready ? "ok" : "warn"}` }, r.ready ? "Looks ready for a planned ending" : "Not ready yet")),
    h(
      "ul",
      { class: "list" },
      h("li", {}, "Goals achieved or sustained", h("strong", {}, `${r.goals_achieved_or_sustaining} of ${r.goals_total}`)),
      h("li", {}, "Recent outcome totals", h("strong", {}, r.recent_outcome_totals.length ? r.recent_outcome_totals.join(", ") : "none yet")),
      h("li", {}, "Above the outcome cutoff (25)", h("strong", {}, r.recent_outcomes_above_cutoff ? "yes" : "no")),
      h("li", {}, "Open alliance concern", h("strong", {}, r.open_alliance_concern ? "yes" : "no")),
      h("li", {}, "Plan", h("strong", {}, relationship.plan_status + (relationship.ending_criteria ? ` — ${relationship.ending_criteria}` : ""))),
    ),
  );
}

async function loadGoals() {
  goals = await api(`/v1/goals?client_id=${clientId}`);
  const shown = goals.filter((g) => !["cancelled", "entered-in-error"].includes(g.status));
  $("#goals").replaceChildren(
    ...(shown.length
      ? shown.map((g) => h("li", { dataset: { goalId: g.id } }, h("span", {}, g.statement), h("span", { class: `badge ${g.status === "active" ? "ok" : ""}` }, g.status)))
      : [h("li", { class: "empty" }, "No goals yet.")]),
  );
}

async function loadValues() {
  const values = (await api(`/v1/values?client_id=${clientId}`)).filter((v) => !v.superseded_at);
  $("#values").replaceChildren(...(values.length ? values.map((v) => h("li", {}, v.statement)) : [h("li", { class: "empty" }, "The client has not written any down yet.")]));
}

async function loadNotes() {
  const notes = await api(`/v1/notes?client_id=${clientId}`);
  $("#notes").replaceChildren(
    ...(notes.length
      ? notes.map((n) =>
          h(
            "li",
            {},
            h("span", {}, n.text, h("br"), h("span", { class: "meta" }, dayOf(n.written_at))),
            h("span", { class: `badge ${n.visibility === "shared" ? "ok" : ""}` }, n.visibility),
          ),
        )
      : [h("li", { class: "empty" }, "No notes yet.")]),
  );
}

async function loadProgress() {
  renderProgress($("#progress"), await api(`/v1/clients/${clientId}/progress?limit=200`), goals);
}

$("#goal-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("/v1/goals", { method: "POST", body: { client_id: clientId, statement: $("#goal-text").value.trim() } });
    $("#goal-text").value = "";
    await loadGoals();
  } catch (error) {
    say(status, error.message, "error");
  }
});
$("#note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("/v1/notes", {
      method: "POST",
      body: { client_id: clientId, visibility: event.target.elements.visibility.value, text: $("#note-text").value.trim() },
    });
    $("#note-text").value = "";
    await loadNotes();
  } catch (error) {
    say(status, error.message, "error");
  }
});

if (!clientId) {
  say(status, "No client chosen.", "error");
} else {
  try {
    const name = await displayName(clientId);
    $("#client-name").textContent = name;
    document.title = `${name} · Rapport`;
    await loadGoals();
    await Promise.all([loadReadiness(), loadValues(), loadNotes(), loadProgress()]);
  } catch (error) {
    say(status, error instanceof ApiError ? error.message : "Could not load this record.", "error");
  }
}
