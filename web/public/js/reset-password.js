// Password reset: without a token, ask for a link by email; with the token from the emailed
// link (in its fragment, or query), choose a new password. The token is a credential: it stays
// in this module's memory only, never in storage, logs or the address bar.

import { ApiError } from "./api.js";
import "./topbar.js";
import { $, errorsByField, fieldError, say } from "./ui.js";

const MIN_LENGTH = 8;
const MAX_LENGTH = 128;
const params = new URLSearchParams(location.hash.slice(1) || location.search);
const token = params.get("token");
// Keep the token out of the address bar (and out of history) once it is read.
if (token) history.replaceState(null, "", location.pathname);

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
}

function signInLink(text) {
  const link = document.createElement("a");
  link.href = "/";
  link.textContent = text;
  return link;
}

function requestForm() {
  const status = $("#request-status");
  const email = $("#request-email");
  $("#request-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    fieldError(email, "");
    say(status, "");
    if (!email.value.trim() || !email.checkValidity()) {
      fieldError(email, "Enter the email address of your account.");
      return email.focus();
    }
    $("#request-submit").disabled = true;
    try {
      await post("/v1/auth/password-reset", { email: email.value.trim() });
      // The answer is the same whether or not the account exists, and so is this message.
      say(status, `If ${email.value.trim()} has a Rapport account, a reset link is on its way. Check your inbox.`, "ok");
    } catch (error) {
      if (error instanceof ApiError && error.status === 429) say(status, "Too many requests. Wait a minute, then try again.", "error");
      else say(status, error instanceof ApiError ? error.message : "Could not reach Rapport. Try again.", "error");
    } finally {
      $("#request-submit").disabled = false;
    }
  });
}

function resetForm() {
  const status = $("#reset-status");
  const password = $("#new-password");
  const confirm = $("#confirm-password");
  $("#request-section").hidden = true;
  $("#reset-section").hidden = false;

  function expired() {
    say(status, "This reset link was used already or has expired. Ask for a new one below.", "error");
    $("#reset-form").hidden = true;
    $("#request-section").hidden = false;
  }

  $("#reset-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    fieldError(password, "");
    fieldError(confirm, "");
    say(status, "");
    const length = password.value.length;
    if (length < MIN_LENGTH || length > MAX_LENGTH) {
      fieldError(password, `Use ${MIN_LENGTH} to ${MAX_LENGTH} characters.`);
      return password.focus();
    }
    if (confirm.value !== password.value) {
      fieldError(confirm, "The two passwords differ. Type the same password twice.");
      return confirm.focus();
    }
    $("#reset-submit").disabled = true;
    try {
      await post("/v1/auth/password-reset/confirm", { token, new_password: password.value });
    } catch (error) {
      $("#reset-submit").disabled = false;
      if (error instanceof ApiError && error.code === "InvalidResetToken") return expired();
      // Identity names the field "new_password" in a 422 problem, "password" in its own checks.
      const problems = error instanceof ApiError ? errorsByField(error, ["new_password", "password"]) : { fallback: "Could not reach Rapport. Try again." };
      const refusal = problems.new_password || problems.password;
      if (refusal) {
        fieldError(password, refusal);
        return password.focus();
      }
      return say(status, problems.fallback, "error");
    }
    $("#reset-form").hidden = true;
    say(status, "Your password is changed. ", "ok");
    status.append(signInLink("Sign in with your new password"));
  });
}

requestForm();
if (token) resetForm();
// A link pasted into this page's own tab changes only the fragment: read it as a fresh visit.
addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("token")) location.reload();
});
