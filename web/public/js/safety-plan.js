// The client's safety plan (the Stanley–Brown headings): shown to the client, written with
// the clinician. Each heading holds a short list, one entry per line in the editor.

import { ApiError, api } from "./api.js";
import { dayOf, h, say, timeOf } from "./ui.js";

export const HEADINGS = [
  ["warning_signs", "Warning signs that a crisis may be developing"],
  ["internal_coping_strategies", "Things I can do on my own to take my mind off my problems"],
  ["people_and_places_for_distraction", "People and places that help me feel better"],
  ["people_to_ask_for_help", "People I can ask for help"],
  ["professionals_and_crisis_lines", "Professionals and crisis lines I can contact"],
  ["making_the_environment_safe", "Making my surroundings safe"],
];

/** The latest plan, or null when there is none yet. */
export async function loadPlan(clientId) {
  try {
    return await api(`/v1/clients/${encodeURIComponent(clientId)}/safety-plan`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/** Shows the plan read-only in `container`. */
export function showPlan(container, plan) {
  if (!plan) {
    container.replaceChildren(h("p", { class: "empty" }, "No safety plan yet. You write it with your clinician."));
    return;
  }
  container.replaceChildren(
    h("p", { class: "meta" }, `Version ${plan.version}, saved ${dayOf(plan.saved_at)} ${timeOf(plan.saved_at)}`),
    ...HEADINGS.map(([key, title]) =>
      h(
        "section",
        { class: "plan-section", dataset: { heading: key } },
        h("h3", {}, title),
        plan.sections[key].length ? h("ul", {}, plan.sections[key].map((entry) => h("li", {}, entry))) : h("p", { class: "empty" }, "Nothing here yet."),
      ),
    ),
  );
}

/** An editor for the plan in `form` (textareas per heading); saving makes a new version. */
export function editPlan(form, clientId, plan, onSaved) {
  const status = h("div", { class: "status", role: "status", hidden: true });
  const fields = HEADINGS.map(([key, title]) => {
    const id = `plan-${key}`;
    const area = h("textarea", { id, name: key, rows: 3 });
    area.value = plan ? plan.sections[key].join("\n") : "";
    return h("div", { class: "field" }, h("label", { for: id }, title), area);
  });
  const button = h("button", { type: "submit", class: "secondary" }, "Save a new version of the plan");
  form.replaceChildren(h("p", { class: "muted" }, "One entry per line."), ...fields, status, button);
  form.onsubmit = async (event) => {
    event.preventDefault();
    button.disabled = true;
    const sections = Object.fromEntries(
      HEADINGS.map(([key]) => [key, form.elements[key].value.split("\n").map((line) => line.trim()).filter(Boolean)]),
    );
    try {
      const saved = await api(`/v1/clients/${encodeURIComponent(clientId)}/safety-plan`, { method: "PUT", body: sections });
      say(status, `Saved as version ${saved.version}.`, "ok");
      onSaved(saved);
    } catch (error) {
      say(status, error instanceof ApiError ? error.message : "Could not save the plan. Try again.", "error");
    } finally {
      button.disabled = false;
    }
  };
}
