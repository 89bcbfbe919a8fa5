// A client accepts their clinician's invitation: the token comes in the link's fragment (or
// query), the client chooses a name, time zone and password, and is signed in.

import { ApiError, signIn } from "./api.js";
import "./topbar.js";
import { $, errorsByField, fieldError, h, say } from "./ui.js";

const FIELDS = { email: "#email", display_name: "#display-name", time_zone: "#time-zone", password: "#password" };
const params = new URLSearchParams(location.hash.slice(1) || location.search);
const token = params.get("token");
const status = $("#accept-status");

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function clearErrors() {
  for (const selector of Object.values(FIELDS)) fieldError($(selector), "");
  say(status, "");
}

function localProblems() {
  const problems = {};
  if (!$("#email").value.trim() || !$("#email").checkValidity()) problems.email = "Enter the email address the invitation was sent to.";
  if (!$("#display-name").value.trim()) problems.display_name = "Enter your name.";
  if (!$("#time-zone").value.trim()) problems.time_zone = "Enter a time zone, e.g. Europe/Paris.";
  const length = $("#password").value.length;
  if (length < 8 || length > 128) problems.password = "Use 8 to 128 characters.";
  return problems;
}

function showProblems(problems) {
  let first = null;
  for (const [name, message] of Object.entries(problems)) {
    if (name === "fallback") continue;
    fieldError($(FIELDS[name]), message);
    first ??= $(FIELDS[name]);
  }
  if (problems.fallback) say(status, problems.fallback, "error");
  first?.focus();
}

const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
$("#time-zones").replaceChildren(...zones.map((zone) => h("option", { value: zone })));
$("#time-zone").value = browserZone();
if (params.get("email")) $("#email").value = params.get("email");
if (!token) {
  say(status, "This page needs the invitation link your clinician sent you. Ask them for a new one.", "error");
  $("#accept-submit").disabled = true;
}
// Keep the token out of the address bar (and out of history) once it is read.
if (location.hash) history.replaceState(null, "", location.pathname);

$("#accept-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const problems = localProblems();
  if (Object.keys(problems).length) return showProblems(problems);
  const email = $("#email").value.trim();
  const password = $("#password").value;
  $("#accept-submit").disabled = true;
  try {
    await fetch("/v1/auth/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        email,
        password,
        display_name: $("#display-name").value.trim(),
        time_zone: $("#time-zone").value.trim(),
        role: "client",
        invitation: token,
      }),
    }).then(async (response) => {
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    });
  } catch (error) {
    $("#accept-submit").disabled = false;
    if (error instanceof ApiError && error.code === "InvitationRequired") {
      return showProblems({ email: "This invitation is not for this email, was used already or has expired. Check the email, or ask your clinician for a new invitation." });
    }
    if (error instanceof ApiError && error.code === "EmailAlreadyRegistered") {
      return showProblems({ email: "An account with this email exists already: sign in instead." });
    }
    return showProblems(error instanceof ApiError ? errorsByField(error, Object.keys(FIELDS)) : { fallback: "Could not reach Rapport. Try again." });
  }
  try {
    await signIn(email, password);
    location.assign("/client");
  } catch {
    location.assign("/");
  }
});
