// The client's own page: sessions (with join links), booking from free slots, goals, values,
// shared notes and progress.

import { ApiError, api, displayName, optional, requireUser } from "./api.js";
import { renderProgress } from "./charts.js";
import { JOIN_WINDOW } from "./protocol.js";
import { loadPlan, showPlan } from "./safety-plan.js";
import "./topbar.js";
import { $, dayOf, h, joinable, say, timeOf } from "./ui.js";

const user = await requireUser("client");

async function loadSafetyPlan() {
  // A client not yet anyone's client has no plan to read: that is said, not an error.
  const plan = await loadPlan(user.id).catch(() => null);
  showPlan($("#safety-plan"), plan);
}
const status = $("#status");
$("#hello").textContent = `Hello, ${user.display_name}`;
let goals = [];

async function loadSessions() {
  const appointments = await api("/v1/appointments");
  const now = Date.now();
  const upcoming = appointments.filter((a) => a.status !== "cancelled" && new Date(a.ends_at).getTime() + JOIN_WINDOW.closesMinutesAfter * 60000 > now);
  const items = await Promise.all(
    upcoming.map(async (a) => {
      const clinician = await displayName(a.clinician_id, "your clinician");
      return h(
        "li",
        { dataset: { sessionId: a.session_id } },
        h("span", {}, h("strong", {}, `${dayOf(a.starts_at)}, ${timeOf(a.starts_at)}`), ` with ${clinician}`),
        joinable(a)
          ? h("a", { class: "button", href: `/join?session_id=${a.session_id}` }, "Join session")
          : h("span", { class: "meta" }, a.status === "fulfilled" || new Date(a.starts_at).getTime() < now ? "Session over" : `Join link opens ${JOIN_WINDOW.opensMinutesBefore} minutes before`),
      );
    }),
  );
  $("#sessions").replaceChildren(...(items.length ? items : [h("li", { class: "empty" }, "No sessions booked.")]));
}

async function loadClinicians() {
  const relationships = (await api("/v1/care-relationships")).filter((r) => r.status === "active");
  const select = $("#booking-clinician");
  const options = await Promise.all(relationships.map(async (r) => h("option", { value: r.clinician_id }, await displayName(r.clinician_id, "My clinician"))));
  select.replaceChildren(...(options.length ? options : [h("option", { value: "" }, "No clinician yet")]));
  if (options.length) await loadSlots();
}

async function loadSlots() {
  const clinicianId = $("#booking-clinician").value;
  const box = $("#slots");
  $("#booking-submit").disabled = true;
  if (!clinicianId) return;
  let answer;
  try {
    answer = await optional(`/v1/clinicians/${clinicianId}/slots`);
  } catch (error) {
    box.replaceChildren(h("p", { class: "empty" }, error.message));
    return;
  }
  if (answer === null) {
    box.replaceChildren(h("p", { class: "empty" }, "Online booking is not available yet: your clinician books your sessions."));
    $("#booking-submit").hidden = true;
    return;
  }
  $("#booking-submit").hidden = false;
  // The server offers the slot under way too (it can still be booked and joined).
  const slots = (Array.isArray(answer) ? answer : answer.slots || []).slice(0, 12);
  if (!slots.length) {
    box.replaceChildren(h("p", { class: "empty" }, "No free times in the next two weeks."));
    return;
  }
  box.replaceChildren(
    ...slots.map((slot, index) =>
      h(
        "label",
        { class: "inline" },
        h("input", { type: "radio", name: "slot", value: JSON.stringify(slot), checked: index === 0, dataset: { startsAt: slot.starts_at } }),
        `${dayOf(slot.starts_at)}, ${timeOf(slot.starts_at)} – ${timeOf(slot.ends_at)}`,
      ),
    ),
  );
  $("#booking-submit").disabled = false;
}

async function book(event) {
  event.preventDefault();
  const chosen = event.target.elements.slot;
  const value = chosen?.value || document.querySelector("input[name=slot]:checked")?.value;
  if (!value) return;
  const slot = JSON.parse(value);
  $("#booking-submit").disabled = true;
  try {
    await api("/v1/appointments", {
      method: "POST",
      body: { clinician_id: $("#booking-clinician").value, starts_at: slot.starts_at, ends_at: slot.ends_at },
    });
    say($("#booking-status"), `Booked: ${dayOf(slot.starts_at)} at ${timeOf(slot.starts_at)}.`, "ok");
    await Promise.all([loadSessions(), loadSlots()]);
  } catch (error) {
    say($("#booking-status"), error instanceof ApiError ? error.message : "Could not book.", "error");
    $("#booking-submit").disabled = false;
  }
}

const GOAL_STATUS = { proposed: "waiting for your agreement", active: "agreed", completed: "completed", "on-hold": "on hold" };

async function loadGoals() {
  goals = await api("/v1/goals");
  const shown = goals.filter((g) => !["cancelled", "entered-in-error"].includes(g.status));
  $("#goals").replaceChildren(
    ...(shown.length
      ? shown.map((goal) => {
          const canAgree = goal.status === "proposed" && goal.proposed_by_role !== "client";
          const agree = canAgree ? h("button", { type: "button", class: "secondary" }, "I agree to this goal") : null;
          agree?.addEventListener("click", async () => {
            await api(`/v1/goals/${goal.id}/agreement`, { method: "POST" });
            await loadGoals();
          });
          return h(
            "li",
            { dataset: { goalId: goal.id } },
            h("span", {}, goal.statement, " ", h("span", { class: `badge ${goal.status === "active" ? "ok" : ""}` }, GOAL_STATUS[goal.status] || goal.status)),
            agree,
          );
        })
      : [h("li", { class: "empty" }, "You and your clinician have not set goals yet.")]),
  );
}

async function loadValues() {
  const values = (await api("/v1/values")).filter((v) => !v.superseded_at);
  $("#values").replaceChildren(...(values.length ? values.map((v) => h("li", {}, v.statement)) : [h("li", { class: "empty" }, "Nothing written down yet.")]));
}

async function loadNotes() {
  const notes = await api("/v1/notes");
  $("#notes").replaceChildren(
    ...(notes.length
      ? notes.map((n) => h("li", {}, h("span", {}, n.text, h("br"), h("span", { class: "meta" }, dayOf(n.written_at)))))
      : [h("li", { class: "empty" }, "No shared notes yet.")]),
  );
}

// Where the client stands with the clinic's telehealth consent, and a way to withdraw it.
const CONSENT_SUMMARIES = {
  signed: (c) => `You signed version ${c.latest.version} of "${c.current.title}" on ${dayOf(c.latest.signed_at)}.`,
  withdrawn: (c) => `You withdrew your consent on ${dayOf(c.latest.withdrawn_at)}. You will be asked to sign before your next session.`,
  outdated: (c) => `Your clinic published version ${c.current.version}. You will be asked to sign it before your next session.`,
  not_signed: () => "You will be asked to read and sign your clinic's consent before your first session.",
};

async function loadConsent() {
  const consent = await api(`/v1/clients/${user.id}/consent`);
  const summary = CONSENT_SUMMARIES[consent.state];
  $("#consent-card").hidden = !summary;
  if (!summary) return;
  $("#consent-summary").textContent = summary(consent);
  $("#consent-withdraw").hidden = consent.state !== "signed" && consent.state !== "outdated";
}

async function loadProgress() {
  const progress = await api(`/v1/clients/${user.id}/progress?limit=200`);
  await renderProgress($("#progress"), progress, goals);
}

$("#booking-clinician").addEventListener("change", loadSlots);
$("#consent-withdraw").addEventListener("click", async () => {
  try {
    await api("/v1/consent/withdrawal", { method: "POST" });
    await loadConsent();
  } catch (error) {
    say(status, error instanceof ApiError ? error.message : "Could not withdraw. Try again.", "error");
  }
});
$("#booking-form").addEventListener("submit", book);
$("#value-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("/v1/values", { method: "POST", body: { statement: $("#value-text").value.trim() } });
    $("#value-text").value = "";
    await loadValues();
  } catch (error) {
    say(status, error.message, "error");
  }
});

try {
  await loadGoals();
  await Promise.all([loadSessions(), loadClinicians(), loadValues(), loadNotes(), loadProgress(), loadSafetyPlan(), loadConsent()]);
} catch (error) {
  say(status, error instanceof ApiError ? error.message : "Could not load your page.", "error");
}
