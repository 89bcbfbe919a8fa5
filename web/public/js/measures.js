// The measures a client is asked to answer in a session (PHQ-9, GAD-7, WAI-SR), rendered
// from each instrument's FHIR Questionnaire: one fieldset per question, one radio button per
// answer, so they work with a keyboard and a screen reader and stack on a phone.

import { ApiError, api } from "./api.js";
import { h, say } from "./ui.js";

const ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue";

function ordinal(coding) {
  return Number((coding.extension || []).find((e) => e.url === ORDINAL)?.valueDecimal);
}

function questionFieldset(question) {
  const legendId = `q-${question.linkId}`;
  return h(
    "fieldset",
    { class: "question", dataset: { linkId: question.linkId } },
    h("legend", { id: legendId }, `${question.prefix || ""} ${question.text}`.trim()),
    h(
      "div",
      { class: "choices" },
      question.answerOption.map((option) => {
        const id = `${question.linkId}-${option.valueCoding.code}`;
        return h(
          "label",
          { for: id, class: "choice" },
          h("input", { type: "radio", id, name: question.linkId, value: ordinal(option.valueCoding) }),
          ` ${option.valueCoding.display}`,
        );
      }),
    ),
  );
}

function crisisMessage() {
  return h(
    "div",
    { class: "status warn", role: "alert" },
    h("strong", {}, "Thank you for telling us. "),
    "Your clinician has been told and will talk with you about it. If you might act on these thoughts now, call your local emergency number (999 in the UK, 112 in the EU, 911 in the US) or go to the nearest emergency department.",
  );
}

/**
 * Shows the measures due in `sessionId` inside `container` (a section that stays hidden when
 * nothing is due). `phase()` says when the client is answering: before, waiting or after.
 * Resolves to how many are due.
 */
export async function showDueMeasures(container, sessionId, phase) {
  const list = container.querySelector(".measure-forms");
  let due;
  try {
    due = await api(`/v1/sessions/${encodeURIComponent(sessionId)}/measures`);
  } catch {
    due = [];
  }
  const shown = new Set([...list.querySelectorAll("form")].map((f) => f.dataset.instrument));
  for (const measure of due) {
    if (shown.has(measure.instrument)) continue;
    const questionnaire = await api(`/v1/measures/${encodeURIComponent(measure.instrument)}`);
    list.append(measureForm(container, sessionId, measure, questionnaire, phase));
  }
  container.hidden = list.children.length === 0;
  return due.length;
}

function measureForm(container, sessionId, measure, questionnaire, phase) {
  const group = questionnaire.item.find((item) => item.type === "group");
  const status = h("div", { class: "status", role: "status", hidden: true });
  const submit = h("button", { type: "submit" }, `Send my ${questionnaire.title} answers`);
  const titleId = `measure-${measure.instrument}-title`;
  const form = h(
    "form",
    { class: "measure", dataset: { instrument: measure.instrument }, "aria-labelledby": titleId },
    h("h3", { id: titleId }, questionnaire.title),
    h("p", { class: "muted" }, group.text, " Answer what you can; you may leave a question out."),
    group.item.map(questionFieldset),
    status,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const answers = {};
    for (const question of group.item) {
      const checked = form.querySelector(`input[name="${CSS.escape(question.linkId)}"]:checked`);
      answers[question.linkId] = checked ? Number(checked.value) : null;
    }
    try {
      const response = await api(`/v1/sessions/${encodeURIComponent(sessionId)}/measures`, {
        method: "POST",
        body: { instrument: measure.instrument, phase: phase(), answers },
      });
      const done = h(
        "div",
        { class: "measure-done", dataset: { instrument: measure.instrument } },
        h("p", { class: "status ok", role: "status" }, `Thank you. Your ${questionnaire.title} answers are with your clinician.`),
        response.safety_flag_raised ? crisisMessage() : null,
      );
      form.replaceWith(done);
    } catch (error) {
      say(status, error instanceof ApiError ? error.message : "Could not send your answers. Try again.", "error");
      submit.disabled = false;
    }
  });
  return form;
}
