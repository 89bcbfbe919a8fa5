// The sign-in page: email and password, then a one-time code when the account needs one.

import { ApiError, signIn } from "./api.js";
import "./topbar.js";
import { $, say } from "./ui.js";

const HOMES = { clinician: "/clinician", client: "/client", admin: "/clinician" };

function nextPage(role) {
  const next = new URLSearchParams(location.search).get("next");
  // Only paths on this site: never an absolute or protocol-relative URL.
  if (next && next.startsWith("/") && !next.startsWith("//")) return next;
  return HOMES[role] || "/client";
}

const form = $("#sign-in");
const status = $("#sign-in-status");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("#sign-in-button");
  button.disabled = true;
  say(status, "");
  try {
    const user = await signIn($("#email").value.trim(), $("#password").value, $("#otp").value.trim());
    location.assign(nextPage(user.role));
  } catch (error) {
    if (error instanceof ApiError && error.code === "MfaRequired") {
      $("#otp-field").hidden = false;
      $("#otp").focus();
      say(status, "Enter the six-digit code from your authenticator app.");
    } else if (error instanceof ApiError && error.status === 429) {
      say(status, "Too many attempts. Wait a minute, then try again.", "error");
    } else {
      say(status, error instanceof ApiError ? error.message : "Could not reach Rapport. Try again.", "error");
    }
  } finally {
    button.disabled = false;
  }
});
