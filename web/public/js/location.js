// The client's location at the start of a session, stated in the waiting room: country and
// region, at home or not, an address or description for emergencies, and an emergency
// contact (the one on file offered; required until there is one). Only the session's
// clinician reads it (records' PUT/GET /v1/sessions/{id}/location).

import { ApiError, api } from "./api.js";
import { fillCountries, fillRegions, placeName } from "./places.js";
import { $, fieldError, say } from "./ui.js";

const FIELDS = {
  country: "#location-country",
  region: "#location-region",
  at_home: "#location-home-yes",
  address: "#location-address",
  "emergency_contact.name": "#contact-name",
  "emergency_contact.phone": "#contact-phone",
  "emergency_contact.relationship": "#contact-relationship",
  emergency_contact: "#contact-name",
};

let sessionId = null;
let onFile = null; // the emergency contact on file, as records has it
let loaded = null;

function input(field) {
  return $(FIELDS[field]);
}

async function load() {
  try {
    onFile = await api("/v1/clients/me/emergency-contact");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    onFile = null;
  }
  // The client's own country from the browser's language, as a first guess they confirm.
  const guess = (navigator.language.split("-")[1] || "").toUpperCase();
  await fillCountries($("#location-country"), guess);
  await fillRegions($("#location-region"), $("#location-country").value);
  if (onFile) {
    $("#contact-name").value = onFile.name;
    $("#contact-phone").value = onFile.phone;
    $("#contact-relationship").value = onFile.relationship || "";
    $("#contact-on-file").textContent = "This is the emergency contact we have for you. Change it if it is out of date.";
    $("#contact-on-file").hidden = false;
  }
  for (const id of ["#contact-name", "#contact-phone"]) $(id).required = !onFile;
}

/** Shows or hides the form (the join page shows it in the waiting room). */
export function showLocation(visible, session) {
  sessionId = session;
  $("#location-card").hidden = !visible;
  if (visible && !loaded) {
    loaded = load().catch((error) => say($("#location-status"), `Could not load the form: ${error.message}`, "error"));
  }
}

function contactGiven() {
  const contact = {
    name: $("#contact-name").value.trim(),
    phone: $("#contact-phone").value.trim(),
    relationship: $("#contact-relationship").value.trim() || null,
  };
  const unchanged = onFile && contact.name === onFile.name && contact.phone === onFile.phone && contact.relationship === (onFile.relationship || null);
  if (unchanged || (onFile && !contact.name && !contact.phone)) return undefined;
  return contact;
}

function clearErrors() {
  for (const selector of new Set(Object.values(FIELDS))) fieldError($(selector), "");
  say($("#location-status"), "");
}

/** Puts each of the API's complaints next to its field; the rest in the status line. */
function showErrors(error) {
  const elsewhere = [];
  const problems = error.body?.problems || [];
  for (const problem of problems) {
    let field = problem.field.replace(/^body\.?/, "");
    let message = problem.message.replace(/^Value error, /, "");
    // The statement as a whole judges the number (as dialled from the stated country).
    if (!field && /phone number/.test(message)) field = "emergency_contact.phone";
    if (field === "emergency_contact.phone" && /^String should/.test(message)) message = "not a phone number: give it with its country code (+1 …)";
    const text = message.charAt(0).toUpperCase() + message.slice(1);
    if (FIELDS[field]) fieldError(input(field), text);
    else elsewhere.push(text);
  }
  const match = /^([a-z_]+): (.*)$/s.exec(error.message);
  if (!problems.length && match && FIELDS[match[1]]) fieldError(input(match[1]), match[2].charAt(0).toUpperCase() + match[2].slice(1));
  else if (!problems.length) elsewhere.push(error.message);
  if (elsewhere.length) say($("#location-status"), elsewhere.join(" "), "error");
  const first = document.querySelector("#location-form [aria-invalid='true']");
  first?.focus();
}

$("#location-country").addEventListener("change", () => fillRegions($("#location-region"), $("#location-country").value));

$("#location-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const home = document.querySelector("input[name='at_home']:checked");
  const body = {
    country: $("#location-country").value,
    region: $("#location-region").value,
    at_home: home ? home.value === "yes" : null,
    address: $("#location-address").value.trim(),
  };
  const missing = [
    ["country", !body.country, "Choose the country you are in."],
    ["region", !body.region && !$("#location-region").disabled, "Choose the state, province or region you are in."],
    ["at_home", body.at_home === null, "Say whether you are at home."],
    ["address", !body.address, "Give an address, or describe where you are, so help can find you."],
  ].filter(([, absent]) => absent);
  if (missing.length) {
    for (const [field, , message] of missing) fieldError(input(field), message);
    input(missing[0][0]).focus();
    return;
  }
  const contact = contactGiven();
  if (contact) body.emergency_contact = contact;
  $("#location-submit").disabled = true;
  try {
    const stated = await api(`/v1/sessions/${encodeURIComponent(sessionId)}/location`, { method: "PUT", body });
    onFile = stated.emergency_contact;
    for (const id of ["#contact-name", "#contact-phone"]) $(id).required = false;
    $("#contact-phone").value = onFile.phone;
    const where = await placeName(stated.region);
    say($("#location-status"), `Thank you. Your clinician sees that you are in ${where}, ${stated.at_home ? "at home" : "not at home"}.`, "ok");
    $("#location-submit").textContent = "Update where I am";
  } catch (error) {
    if (error instanceof ApiError) showErrors(error);
    else say($("#location-status"), "Could not send where you are. Try again.", "error");
  } finally {
    $("#location-submit").disabled = false;
  }
});
