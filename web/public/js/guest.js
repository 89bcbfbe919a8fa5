// A guest's way into one session (an interpreter, a family member), without an account: the
// clinician's one-time link is exchanged for a guest token, then the same device check,
// waiting room and call as a client's (join.js), over the same signaling client.

import { ApiError } from "./api.js";
import { CLOSE_CODES, CLOSE_REASONS, JOIN_WINDOW } from "./protocol.js";
import "./call-stage.js";
import { Call, Signaling, openDevices } from "./signal.js";
import "./topbar.js";
import { $, say } from "./ui.js";

// The redeemed guest token, kept in this tab only: the link works once, so a reload must not
// need it again.
const STORE = "rapport.guest";
// Signaling hears of a new guest through an event, a moment after the link was made: until
// then it refuses the guest's token as not this session's, and the page asks again.
const ROSTER_CATCH_UP_MS = 60_000;
const RELATIONSHIPS = {
  interpreter: "an interpreter",
  "family-member": "a family member",
  caregiver: "a caregiver",
  supervisor: "a supervisor",
  other: "a guest",
};

const stage = $("rapport-call-stage");
const status = $("#join-status");
let guest = null;
let stream = null;
let signaling = null;
let call = null;
let pending = [];
let iceServers = [];
let ended = false;

function show(sections) {
  for (const id of ["device-check", "waiting", "call", "done"]) $(`#${id}`).hidden = !sections.includes(id);
}

function remembered() {
  try {
    const held = JSON.parse(sessionStorage.getItem(STORE) || "null");
    return held && held.expiresAt > Date.now() ? held : null;
  } catch {
    return null;
  }
}

/** The guest token: from the link in the fragment (used up here), or the one this tab holds. */
async function redeem() {
  const linkToken = new URLSearchParams(location.hash.slice(1)).get("link");
  // The fragment never reaches a server; taking it out of the address bar keeps it out of
  // bookmarks and the history too.
  if (location.hash) history.replaceState(null, "", location.pathname);
  if (!linkToken) return remembered();
  const response = await fetch("/v1/guest-tokens", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ link_token: linkToken }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body);
  const held = {
    token: body.token,
    sessionId: body.session_id,
    guestId: body.guest_id,
    relationship: body.relationship,
    expiresAt: Date.now() + body.expires_in * 1000,
    redeemedAt: Date.now(),
  };
  sessionStorage.setItem(STORE, JSON.stringify(held));
  return held;
}

async function init() {
  try {
    guest = await redeem();
  } catch (error) {
    say(status, error instanceof ApiError ? error.message : "Could not open this guest link.", "error");
    return;
  }
  if (!guest) {
    say(status, "This page needs the guest link the clinician gave you. Open that link again.", "error");
    return;
  }
  $("#guest-role").textContent = `You are joining as ${RELATIONSHIPS[guest.relationship] || "a guest"}.`;
  show(["device-check"]);
  const devices = await openDevices();
  stream = devices.stream;
  if (stream) {
    $("#preview").srcObject = stream;
    $("#device-status").textContent = "Camera and microphone are working. If you see yourself, you are ready.";
  } else {
    $("#device-status").textContent = "We could not use your camera or microphone. Check your browser's permission; you can still join.";
  }
}

function showClinicianStatus(value) {
  const badge = $("#clinician-status");
  badge.textContent = value === "online" ? "online" : value === "offline" ? "not here yet" : "away for a moment";
  badge.className = `badge ${value === "online" ? "ok" : value === "offline" ? "" : "warn"}`;
}

async function joinWaitingRoom() {
  $("#join-waiting").disabled = true;
  ended = false;
  say(status, "Connecting…");
  const name = $("#guest-name").value.trim() || `Guest (${guest.relationship})`;
  signaling = new Signaling(guest.sessionId, name, { token: async () => guest.token });
  signaling.on("retrying", (error) => say(status, error.code === CLOSE_CODES.TOO_EARLY ? `The session opens ${JOIN_WINDOW.opensMinutesBefore} minutes before it starts. We will let you in then.` : "Getting the session ready…"));
  signaling.on("waiting", async (message) => {
    show(["device-check", "waiting"]);
    $("#join-waiting").hidden = true;
    say(status, "");
    showClinicianStatus(message.clinician_status);
    iceServers = await signaling.iceServers();
  });
  signaling.on("clinician-status", (message) => showClinicianStatus(message.status));
  signaling.on("joined", startCall);
  signaling.on("sent-back", () => {
    endCall();
    show(["device-check", "waiting"]);
    say(status, "The clinician moved you back to the waiting room for a moment.");
  });
  signaling.on("declined", () => finish("The clinician cannot let you in now."));
  for (const type of ["offer", "answer", "ice-candidate"]) {
    signaling.on(type, (message) => (call ? call.handle(message) : pending.push(message)));
  }
  signaling.on("ended", () => finish("The session has ended. You can close this page."));
  signaling.on("closed", ({ code }) => {
    if (ended || code === CLOSE_CODES.SESSION_ENDED) return;
    if (code === CLOSE_CODES.REVOKED || code === CLOSE_CODES.FORBIDDEN) {
      sessionStorage.removeItem(STORE);
      finish("The clinician has withdrawn your invitation to this session.");
      return;
    }
    endCall();
    say(status, CLOSE_REASONS[code] || "The connection was lost. Reload the page to join again.", "error");
    $("#join-waiting").disabled = false;
    $("#join-waiting").hidden = false;
    show(["device-check"]);
  });
  for (;;) {
    try {
      await signaling.open({ retryForMs: 30 * 60_000 });
      return;
    } catch (error) {
      const catchingUp = Date.now() - (guest.redeemedAt || 0) < ROSTER_CATCH_UP_MS;
      if (error.code === CLOSE_CODES.FORBIDDEN && catchingUp && !signaling.closed) {
        say(status, "Getting the session ready…");
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      say(status, error.message, "error");
      $("#join-waiting").disabled = false;
      return;
    }
  }
}

function startCall(joined) {
  show(["call"]);
  say(status, "");
  const clinician = joined.peers.find((p) => p.role === "clinician") || joined.peers[0];
  call = new Call(signaling, { peerId: clinician?.user_id, polite: joined.polite, localStream: stream, iceServers });
  stage.show(call, stream);
  const queued = pending;
  pending = [];
  for (const message of queued) call.handle(message);
  call.start();
}

function endCall() {
  call?.close();
  call = null;
  pending = [];
  stage.clear();
}

function finish(message) {
  ended = true;
  endCall();
  signaling?.close(false);
  $("#done-text").textContent = message;
  show(["done"]);
}

$("#join-waiting").addEventListener("click", joinWaitingRoom);
$("#leave-waiting").addEventListener("click", () => {
  signaling?.close(true);
  show(["device-check"]);
  $("#join-waiting").disabled = false;
  $("#join-waiting").hidden = false;
});
$("#leave-call").addEventListener("click", () => {
  ended = true;
  signaling?.close(true);
  endCall();
  say(status, "You left the call. You can join again while the session runs.");
  show(["device-check"]);
  $("#join-waiting").disabled = false;
  $("#join-waiting").hidden = false;
  ended = false;
});
init();
