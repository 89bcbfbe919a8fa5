// A client's record for their clinician: readiness to end, goals, values, notes, progress.

import { ApiError, api, displayName, requireUser } from "./api.js";
import { renderMeasureTrends, renderProgress } from "./charts.js";
import { consentBadge } from "./consent-badge.js";
import { editPlan, loadPlan } from "./safety-plan.js";
import "./topbar.js";
import { $, dayOf, h, say } from "./ui.js";

await requireUser("clinician");
const status = $("#status");
const clientId = new URLSearchParams(location.search).get("id");
let goals = [];

let relationship = null;
let pendingConfirm = null;

const PLAN_TEXT = { active: "Active", ending: "Planned ending under way", completed: "Completed" };

/** The care relationship with this client: the active one, else the latest that ended. */
async function findRelationship() {
  const mine = (await api("/v1/care-relationships")).filter((r) => r.client_id === clientId);
  mine.sort((a, b) => (a.status === b.status ? b.started_at.localeCompare(a.started_at) : a.status === "active" ? -1 : 1));
  return mine[0] || null;
}

async function loadConsent() {
  const consent = relationship?.status === "active" ? await api(`/v1/clients/${clientId}/consent`).catch(() => null) : null;
  const badge = consentBadge(consent);
  $("#client-consent").replaceChildren(...(badge ? [badge] : []));
}

async function loadReadiness() {
  const box = $("#readiness");
  if (!relationship || relationship.status !== "active") {
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

function renderPlan() {
  const box = $("#plan");
  hideConfirm();
  if (!relationship) {
    box.replaceChildren(h("p", { class: "empty" }, "No care relationship with this client."));
    for (const id of ["#criteria-form", "#plan-ending", "#plan-completed", "#discharge"]) $(id).hidden = true;
    $("#start-care").hidden = false;
    return;
  }
  const open = relationship.status === "active";
  const ended = relationship.ended_at ? ` on ${dayOf(relationship.ended_at)}` : "";
  box.replaceChildren(
    h(
      "ul",
      { class: "list" },
      h("li", {}, "Plan", h("strong", { id: "plan-status-text" }, PLAN_TEXT[relationship.plan_status] || relationship.plan_status)),
      h("li", {}, "Ending criteria", h("span", { id: "criteria-text" }, relationship.ending_criteria || "not recorded yet")),
      h("li", {}, "Care", h("strong", {}, open ? `since ${dayOf(relationship.started_at)}` : `ended${ended}`)),
    ),
  );
  $("#criteria-form").hidden = !open;
  if (open && document.activeElement !== $("#ending-criteria")) $("#ending-criteria").value = relationship.ending_criteria || "";
  $("#plan-ending").hidden = !open || relationship.plan_status !== "active";
  $("#plan-completed").hidden = !open || relationship.plan_status !== "ending";
  $("#discharge").hidden = !open;
  $("#start-care").hidden = open;
}

function askFirst(text, action, button) {
  pendingConfirm = { action, button };
  $("#confirm-text").textContent = text;
  $("#confirm").hidden = false;
  $("#confirm-yes").focus();
}

function hideConfirm() {
  $("#confirm").hidden = true;
  pendingConfirm = null;
}

async function changeRelationship(request, done) {
  const planStatus = $("#plan-status");
  try {
    relationship = await request();
    renderPlan();
    say(planStatus, done, "ok");
    await loadReadiness();
  } catch (error) {
    say(planStatus, error.message, "error");
  }
}

const changePlan = (body, done) =>
  changeRelationship(() => api(`/v1/care-relationships/${relationship.id}/plan`, { method: "PATCH", body }), done);

$("#criteria-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("#ending-criteria").value.trim();
  if (!text) return say($("#plan-status"), "Write the ending criteria first.", "error");
  return changePlan({ ending_criteria: text }, "Ending criteria saved.");
});
$("#plan-ending").addEventListener("click", () => changePlan({ plan_status: "ending" }, "The planned ending has started."));
$("#plan-completed").addEventListener("click", (event) =>
  askFirst("Mark the plan completed? This ends the care relationship; it cannot be reopened.", () => changePlan({ plan_status: "completed" }, "The plan is completed."), event.currentTarget),
);
$("#discharge").addEventListener("click", (event) =>
  askFirst(
    `Discharge ${$("#client-name").textContent}? This ends the care relationship now.`,
    () => changeRelationship(() => api(`/v1/care-relationships/${relationship.id}/discharge`, { method: "POST" }), "Discharged."),
    event.currentTarget,
  ),
);
$("#start-care").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  const planStatus = $("#plan-status");
  // A client who has just accepted an invitation reaches records a moment later (an event):
  // until then records answers UnknownClient, so try again for a little while.
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      try {
        relationship = await api("/v1/care-relationships", { method: "POST", body: { client_id: clientId } });
        renderPlan();
        say(planStatus, "Care started.", "ok");
        await loadReadiness();
        break;
      } catch (error) {
        if (!(error instanceof ApiError && error.code === "UnknownClient") || Date.now() > deadline) throw error;
        say(planStatus, "Rapport is still setting up this client's account…");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  } catch (error) {
    say(planStatus, error.message, "error");
  } finally {
    button.disabled = false;
  }
});
$("#confirm-yes").addEventListener("click", async () => {
  const pending = pendingConfirm;
  hideConfirm();
  if (pending) await pending.action();
});
$("#confirm-no").addEventListener("click", () => {
  const button = pendingConfirm?.button;
  hideConfirm();
  button?.focus();
});

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
  await renderProgress($("#progress"), await api(`/v1/clients/${clientId}/progress?limit=200`), goals);
}

const CADENCE_TEXT = { "every-session": "every session", intake: "once, at intake", "every-n-sessions": "every N sessions", "before-discharge": "before discharge" };

async function loadMeasures() {
  const [summary, assignments, flags] = await Promise.all([
    api(`/v1/clients/${clientId}/measures/summary`),
    api(`/v1/clients/${clientId}/measure-assignments`),
    api(`/v1/clients/${clientId}/safety-flags`),
  ]);
  await renderMeasureTrends($("#measure-trends"), summary);
  $("#assignments").replaceChildren(
    ...(assignments.length
      ? assignments.map((a) => h("li", {}, h("strong", {}, a.instrument.toUpperCase()), ` ${a.cadence === "every-n-sessions" ? `every ${a.every_n} sessions` : CADENCE_TEXT[a.cadence]}`))
      : [h("li", { class: "empty" }, "Nothing assigned.")]),
  );
  $("#client-flags").replaceChildren(
    ...(flags.length
      ? flags.map((f) =>
          h(
            "li",
            { dataset: { flagId: f.id, status: f.status } },
            h("span", {}, `${dayOf(f.raised_at)}: ${f.instrument.toUpperCase()} item 9 (${f.severity})`),
            h("span", { class: `badge ${f.status === "acknowledged" ? "ok" : "bad"}` }, f.status === "acknowledged" ? `acknowledged: ${f.action}` : f.status),
          ),
        )
      : [h("li", { class: "empty" }, "No safety flags.")]),
  );
}

async function loadSafetyPlan() {
  const plan = await loadPlan(clientId);
  editPlan($("#safety-plan-form"), clientId, plan, () => {});
}

$("#assign-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const cadence = $("#assign-cadence").value;
  try {
    await api(`/v1/clients/${clientId}/measure-assignments`, {
      method: "PUT",
      body: { instrument: $("#assign-instrument").value, cadence, ...(cadence === "every-n-sessions" ? { every_n: 4 } : {}) },
    });
    say($("#assign-status"), "Assigned.", "ok");
    await loadMeasures();
  } catch (error) {
    say($("#assign-status"), error.message, "error");
  }
});

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
    // The plan first: a client who has only just accepted an invitation may not be known to
    // records yet (their goals and notes answer an error), and can still be taken on here.
    relationship = await findRelationship();
    renderPlan();
    await loadGoals();
    await Promise.all([loadReadiness(), loadValues(), loadNotes(), loadProgress(), loadMeasures(), loadSafetyPlan(), loadConsent()]);
  } catch (error) {
    say(status, error instanceof ApiError ? error.message : "Could not load this record.", "error");
  }
}
