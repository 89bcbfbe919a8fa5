// Account settings for everyone: profile (name, time zone), two-step sign-in with TOTP
// (secret and otpauth link shown as text, recovery codes once), and a new password.

import { ApiError, api, rememberUser, requireUser, signIn } from "./api.js";
import "./jurisdictions.js";
import "./topbar.js";
import { $, copyText, errorsByField, fieldError, h, say } from "./ui.js";

const user = await requireUser();
const status = $("#status");

const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
$("#time-zones").replaceChildren(...zones.map((zone) => h("option", { value: zone })));

async function loadProfile() {
  const me = await api("/v1/users/me");
  $("#display-name").value = me.display_name;
  $("#time-zone").value = me.time_zone;
  $("#username").value = me.email;
}

$("#profile-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const profileStatus = $("#profile-status");
  fieldError($("#display-name"), "");
  fieldError($("#time-zone"), "");
  say(profileStatus, "");
  const body = { display_name: $("#display-name").value.trim(), time_zone: $("#time-zone").value.trim() };
  if (!body.display_name) return fieldError($("#display-name"), "Enter a name.");
  $("#save-profile").disabled = true;
  try {
    const me = await api("/v1/users/me", { method: "PATCH", body });
    rememberUser(me);
    $("rapport-topbar").update();
    say(profileStatus, "Profile saved.", "ok");
  } catch (error) {
    const problems = errorsByField(error, ["display_name", "time_zone"]);
    if (problems.display_name) fieldError($("#display-name"), problems.display_name);
    if (problems.time_zone) fieldError($("#time-zone"), problems.time_zone);
    if (problems.fallback) say(profileStatus, problems.fallback, "error");
  } finally {
    $("#save-profile").disabled = false;
  }
});

$("#enroll-totp").addEventListener("click", async () => {
  const mfaStatus = $("#mfa-status");
  say(mfaStatus, "");
  try {
    const enrollment = await api("/v1/auth/mfa/totp", { method: "POST" });
    $("#totp-secret").textContent = enrollment.secret;
    $("#totp-uri").textContent = enrollment.otpauth_uri;
    $("#mfa-start").hidden = true;
    $("#mfa-enroll").hidden = false;
    $("#totp-code").focus();
  } catch (error) {
    if (error instanceof ApiError && error.code === "MfaAlreadyEnabled") {
      $("#mfa-start").hidden = true;
      say(mfaStatus, "Two-step sign-in is already on for this account.", "ok");
    } else {
      say(mfaStatus, error.message, "error");
    }
  }
});

$("#totp-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#totp-code");
  fieldError(input, "");
  const code = input.value.replace(/\s+/g, "");
  if (!/^[0-9]{6,10}$/.test(code)) return fieldError(input, "Enter the six-digit code from your app.");
  $("#confirm-totp").disabled = true;
  try {
    const answer = await api("/v1/auth/mfa/totp/confirm", { method: "POST", body: { code } });
    $("#recovery-codes").replaceChildren(...answer.recovery_codes.map((c) => h("li", {}, c)));
    $("#mfa-enroll").hidden = true;
    $("#mfa-codes").hidden = false;
    $("#mfa-on").focus();
  } catch (error) {
    fieldError(input, error instanceof ApiError && error.code === "InvalidMfaCode" ? "That code did not match. Check the clock on your phone and try the next code." : error.message);
  } finally {
    $("#confirm-totp").disabled = false;
  }
});

$("#copy-codes").addEventListener("click", async () => {
  const codes = [...document.querySelectorAll("#recovery-codes li")].map((li) => li.textContent).join("\n");
  $("#copy-status").textContent = (await copyText(codes)) ? "Copied." : "Select the codes and copy them.";
});

$("#password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const passwordStatus = $("#password-status");
  const current = $("#current-password");
  const next = $("#new-password");
  fieldError(current, "");
  fieldError(next, "");
  say(passwordStatus, "");
  if (!current.value) return fieldError(current, "Enter your current password.");
  if (next.value.length < 8 || next.value.length > 128) return fieldError(next, "Use 8 to 128 characters.");
  $("#change-password").disabled = true;
  try {
    await api("/v1/auth/password", { method: "POST", body: { current_password: current.value, new_password: next.value } });
  } catch (error) {
    $("#change-password").disabled = false;
    if (error instanceof ApiError && error.code === "WrongCurrentPassword") return fieldError(current, "That is not your current password.");
    const problems = errorsByField(error, ["current_password", "new_password", "password"]);
    if (problems.current_password) fieldError(current, problems.current_password);
    const about = problems.new_password || problems.password;
    if (about) fieldError(next, about);
    if (problems.fallback) say(passwordStatus, problems.fallback, "error");
    return;
  }
  // A new password ends every signed-in session's refresh token: sign this tab in again.
  // Tokens carry their issue time in whole seconds and the edge refuses those issued up to
  // the change, so the new sign-in waits for the next second.
  const newPassword = next.value;
  current.value = "";
  next.value = "";
  say(passwordStatus, "Password changed. Signing you in again…");
  await new Promise((resolve) => setTimeout(resolve, 1100));
  $("#change-password").disabled = false;
  try {
    await signIn(user.email, newPassword);
    say(passwordStatus, "Password changed.", "ok");
  } catch {
    say(passwordStatus, "Password changed. Sign in again with your new password when asked.", "ok");
  }
});

loadProfile().catch((error) => say(status, error.message, "error"));
