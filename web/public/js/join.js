// The client's way into a session: device check, waiting room (with the echo test call),
// the call, and the end-of-session check-in.

import { ApiError, api, displayName, requireUser } from "./api.js";
import { renderProgress } from "./charts.js";
import { CLOSE_CODES, CLOSE_REASONS, JOIN_WINDOW } from "./protocol.js";
import "./call-stage.js";
import "./chat.js";
import { Call, Signaling, openDevices } from "./signal.js";
import { showDueMeasures } from "./measures.js";
import { expose } from "./test-hooks.js";
import "./topbar.js";
import { $, dayOf, h, say, timeOf } from "./ui.js";

const SCALES = [
  ["relationship", "I felt heard, understood and respected"],
  ["goals_and_topics", "We worked on and talked about what I wanted to"],
  ["approach", "The clinician's approach is a good fit for me"],
  ["overall", "Overall, today's session was right for me"],
];

// The outcome check-in, at the start of a session: how the past week went.
const OUTCOME_SCALES = [
  ["individual", "Me, personally: how I have been feeling"],
  ["interpersonal", "Family and close relationships"],
  ["social", "Work, school and friendships"],
  ["overall", "Overall: how things are going for me"],
];

const user = await requireUser("client");
const stage = $("rapport-call-stage");
const chat = $("#chat");
const sessionId = new URLSearchParams(location.search).get("session_id");
const status = $("#join-status");
let stream = null;
let signaling = null;
let call = null;
let pending = [];
let iceServers = [];
let goals = [];
let ended = false;
let echo = null;
// Settles when the device check has opened the camera and microphone (or been refused): a
// client admitted before that waits for it, or the call would start without them.
let devicesChecked;
const devicesOpened = new Promise((resolve) => (devicesChecked = resolve));
// Counts calls started and ended, so that a start that waited for the devices can tell that
// the client was sent back meanwhile.
let callsSeen = 0;
const lastProgress = new Map();
// How long after signing a held join is retried: signaling learns of the signature by event.
const CONSENT_SETTLE_MS = 30_000;
// The session's clinician: the one person a client in the waiting room may write to.
let clinicianId = null;
let clinicianName = "Your clinician";

function show(section) {
  for (const id of ["device-check", "waiting", "call", "check-in", "done"]) $(`#${id}`).hidden = !section.includes(id);
  $("#chat-card").hidden = !section.includes("waiting") && !section.includes("call");
  // Questionnaires wait while the call is on, and come back before or after it.
  $("#measures").hidden = section.includes("call") || !$("#measures .measure-forms").children.length;
}

// When the client answers relative to the call: the API records it with the answers.
function measurePhase() {
  if (ended || !$("#check-in").hidden || !$("#done").hidden) return "after";
  return $("#waiting").hidden ? "before" : "waiting";
}

function refreshMeasures() {
  if (sessionId) showDueMeasures($("#measures"), sessionId, measurePhase);
}

async function init() {
  if (!sessionId) {
    say(status, "This link has no session in it. Open the link from your appointment.", "error");
    $("#join-waiting").disabled = true;
    return;
  }
  try {
    const [record, appointments, allGoals] = await Promise.all([
      api(`/v1/sessions/${encodeURIComponent(sessionId)}`),
      api("/v1/appointments"),
      api("/v1/goals"),
    ]);
    goals = allGoals.filter((g) => g.status === "active");
    const appointment = appointments.find((a) => a.session_id === sessionId);
    const clinician = await displayName(record.clinician_id, "your clinician");
    clinicianId = record.clinician_id;
    clinicianName = clinician;
    $("#title").textContent = `Your session with ${clinician}`;
    if (appointment) $("#session-when").textContent = `${dayOf(appointment.starts_at)}, ${timeOf(appointment.starts_at)} – ${timeOf(appointment.ends_at)}`;
    refreshMeasures();
    if (record.status === "completed") return showCheckIn();
  } catch (error) {
    say(status, error instanceof ApiError ? error.message : "Could not load your session.", "error");
  }
  const devices = await openDevices();
  stream = devices.stream;
  devicesChecked();
  if (stream) {
    $("#preview").srcObject = stream;
    $("#device-status").textContent = "Camera and microphone are working. If you see yourself, you are ready.";
    meterMicrophone(stream);
  } else {
    $("#device-status").textContent = "We could not use your camera or microphone. Check your browser's permission; you can still join.";
  }
  renderLiveGoals();
}

function meterMicrophone(media) {
  if (!media.getAudioTracks().length) return;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(media).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const meter = $("#mic-level");
  const tick = () => {
    analyser.getFloatTimeDomainData(samples);
    meter.value = Math.min(1, Math.sqrt(samples.reduce((sum, v) => sum + v * v, 0) / samples.length) * 4);
    if (!$("#device-check").hidden) requestAnimationFrame(tick);
  };
  document.addEventListener("click", () => context.resume(), { once: true });
  tick();
}

function renderLiveGoals() {
  const list = $("#live-goals");
  list.replaceChildren(
    ...(goals.length
      ? goals.map((goal) => {
          const latest = lastProgress.get(goal.id);
          return h(
            "li",
            { dataset: { goalId: goal.id } },
            h("span", { class: "statement" }, goal.statement),
            latest
              ? h("span", { class: "live-update", dataset: { progress: latest.progress } }, `${latest.progress} / 10 — shared by your clinician at ${timeOf(latest.at)}`)
              : h("span", { class: "meta" }, "No rating yet today"),
          );
        })
      : [h("li", { class: "empty" }, "No agreed goals yet.")]),
  );
}

const STATUS_TEXT = { online: "online", away: "away for a moment", "in-another-session": "finishing another session", offline: "not here yet" };

function showClinicianStatus(value) {
  const badge = $("#clinician-status");
  badge.textContent = STATUS_TEXT[value] || value;
  badge.className = `badge ${value === "online" ? "ok" : value === "offline" ? "" : "warn"}`;
}

// The clinic's consent, when signaling held the join for it: the version shown, signed as shown.
let consentDocument = null;

async function showConsent() {
  try {
    consentDocument = await api("/v1/consent/documents/current");
  } catch (error) {
    say(status, error instanceof ApiError ? error.message : "Could not load the consent document.", "error");
    $("#join-waiting").disabled = false;
    return;
  }
  say(status, CLOSE_REASONS[CLOSE_CODES.CONSENT_REQUIRED]);
  $("#consent-document-title").textContent = consentDocument.title;
  $("#consent-version").textContent = `Version ${consentDocument.version}.`;
  $("#consent-text").textContent = consentDocument.text;
  $("#consent").hidden = false;
  $("#join-waiting").hidden = true;
  $("#consent-name").focus();
}

async function signConsent(event) {
  event.preventDefault();
  const consentStatus = $("#consent-status");
  $("#consent-sign").disabled = true;
  try {
    await api("/v1/consent/signatures", {
      method: "POST",
      body: {
        document_id: consentDocument.id,
        version: consentDocument.version,
        sha256: consentDocument.sha256,
        typed_name: $("#consent-name").value,
      },
    });
  } catch (error) {
    say(consentStatus, error instanceof ApiError ? error.message : "Could not sign. Try again.", "error");
    $("#consent-sign").disabled = false;
    return;
  }
  say(consentStatus, "");
  $("#consent").hidden = true;
  $("#consent-sign").disabled = false;
  $("#join-waiting").hidden = false;
  // Signaling hears of the signature through an event: a join right after may still be held.
  await joinWaitingRoom({ consentSignedAt: Date.now() });
}

async function joinWaitingRoom({ consentSignedAt = null } = {}) {
  $("#join-waiting").disabled = true;
  ended = false;
  say(status, "Connecting…");
  signaling = new Signaling(sessionId, user.display_name);
  signaling.on("retrying", (error) => say(status, error.code === CLOSE_CODES.TOO_EARLY ? `Your session opens ${JOIN_WINDOW.opensMinutesBefore} minutes before it starts. We will let you in then.` : "Getting your session ready…"));
  signaling.on("waiting", async (message) => {
    if ($("#waiting").hidden && !$("#outcome-scales").children.length) {
      $("#outcome-scales").replaceChildren(...OUTCOME_SCALES.map(([name, text]) => scale(`outcome-${name}`, text)));
    }
    show(["device-check", "waiting"]);
    refreshMeasures();
    $("#join-waiting").hidden = true;
    say(status, "");
    showClinicianStatus(message.clinician_status);
    iceServers = await signaling.iceServers();
  });
  signaling.on("clinician-status", (message) => showClinicianStatus(message.status));
  signaling.on("joined", startCall);
  signaling.on("sent-back", (message) => {
    endCall();
    show(["device-check", "waiting"]);
    showClinicianStatus(message.clinician_status);
    say(status, "Your clinician moved you back to the waiting room for a moment.");
  });
  signaling.on("declined", () => {
    ended = true; // the close that follows needs no other explanation
    show(["device-check"]);
    $("#join-waiting").hidden = false;
    $("#join-waiting").disabled = false;
    say(status, "Your clinician cannot see you now. Please get in touch with them.", "error");
  });
  for (const type of ["offer", "answer", "ice-candidate"]) {
    signaling.on(type, (message) => (call ? call.handle(message) : pending.push(message)));
  }
  signaling.on("chat-message", showChat);
  signaling.on("goal-updated", (message) => {
    lastProgress.set(message.goal_id, message);
    renderLiveGoals();
  });
  signaling.on("peer-reconnecting", () => stage.say("Your clinician is reconnecting…"));
  signaling.on("ended", () => {
    ended = true;
    endCall();
    showCheckIn();
  });
  signaling.on("echo-test-answer", async (message) => {
    await echo?.setRemoteDescription({ type: "answer", sdp: message.sdp });
    $("#echo-status").textContent = `Test call running (up to ${Math.round(message.max_seconds)} seconds).`;
  });
  signaling.on("echo-test-ended", () => stopEcho("The test call has ended."));
  signaling.on("error", (message) => {
    if (message.code === "echo-test-unavailable") stopEcho("The test call is busy right now; try again in a minute.");
    // In the waiting room only a message to the clinician can find nobody there.
    if (message.code === "unknown-participant" && !call) chat.say("Your clinician is not here yet: your message was not sent.");
  });
  signaling.on("closed", ({ code }) => {
    if (ended || code === CLOSE_CODES.SESSION_ENDED) return;
    endCall();
    say(status, CLOSE_REASONS[code] || "The connection was lost. Reload the page to join again.", "error");
    $("#join-waiting").disabled = false;
    $("#join-waiting").hidden = false;
    show(["device-check"]);
  });
  try {
    await signaling.open({ retryForMs: 30 * 60_000 });
  } catch (error) {
    if (error.code === CLOSE_CODES.CONSENT_REQUIRED) {
      if (consentSignedAt !== null && Date.now() - consentSignedAt < CONSENT_SETTLE_MS) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        return joinWaitingRoom({ consentSignedAt });
      }
      return showConsent();
    }
    say(status, error.message, "error");
    $("#join-waiting").disabled = false;
  }
}

function showChat(message) {
  const mine = message.from === user.id;
  const who = mine ? "You" : message.role === "clinician" ? clinicianName : message.role === "guest" ? "A guest" : "The client";
  let whom = "";
  if (message.to === "waiting") whom = "everyone waiting";
  else if (message.to === user.id) whom = "you";
  else if (mine && message.to === clinicianId) whom = clinicianName;
  chat.add(message, who, whom);
}

// Waiting, a client writes to the clinician only; in the call, to everyone in it.
chat.onsend = (text) => {
  if (!signaling || (!call && !clinicianId)) {
    chat.say("Join the waiting room to send a message.");
    return false;
  }
  signaling.send({ type: "chat", text, to: call ? "call" : clinicianId });
  return true;
};

async function startCall(joined) {
  const seen = ++callsSeen;
  await devicesOpened;
  if (seen !== callsSeen) return;
  stopEcho("");
  show(["call"]);
  say(status, "");
  const clinician = joined.peers.find((p) => p.role === "clinician") || joined.peers[0];
  call = new Call(signaling, { peerId: clinician?.user_id, polite: joined.polite, localStream: stream, iceServers });
  stage.show(call, stream);
  const queued = pending;
  pending = [];
  for (const message of queued) call.handle(message);
  call.start();
  stage.focusPeer();
}

function endCall() {
  callsSeen++;
  call?.close();
  call = null;
  // What the ended call's peer sent last (trailing ICE candidates) must not reach the next call.
  pending = [];
  stage.clear();
}

async function startEcho() {
  if (!stream || !signaling) return;
  $("#echo-start").hidden = true;
  $("#echo-stop").hidden = false;
  $("#echo-status").textContent = "Starting the test call…";
  echo = new RTCPeerConnection({ iceServers });
  expose("rapportEcho", echo);
  for (const track of stream.getTracks()) echo.addTrack(track, stream);
  echo.addEventListener("track", (event) => {
    const video = $("#echo-video");
    video.hidden = false;
    video.srcObject = event.streams[0] || new MediaStream([event.track]);
  });
  await echo.setLocalDescription(await echo.createOffer());
  await new Promise((resolve) => {
    if (echo.iceGatheringState === "complete") return resolve();
    echo.addEventListener("icegatheringstatechange", () => echo?.iceGatheringState === "complete" && resolve());
    setTimeout(resolve, 3000);
  });
  signaling.send({ type: "echo-test", sdp: echo.localDescription.sdp });
}

function stopEcho(message) {
  if (echo) {
    signaling?.send({ type: "echo-test-stop" });
    echo.close();
  }
  echo = null;
  expose("rapportEcho", null);
  $("#echo-video").hidden = true;
  $("#echo-start").hidden = false;
  $("#echo-stop").hidden = true;
  $("#echo-status").textContent = message;
}

function scale(name, text, value = 5) {
  const input = h("input", { type: "range", min: 0, max: 10, step: 1, value, name, id: `scale-${name}`, "aria-describedby": `scale-${name}-value` });
  const output = h("output", { id: `scale-${name}-value`, for: `scale-${name}` }, String(value));
  input.addEventListener("input", () => (output.textContent = input.value));
  return h("div", { class: "goal" }, h("label", { for: `scale-${name}` }, text), h("div", { class: "scale" }, input, output));
}

function showCheckIn() {
  show(["check-in"]);
  refreshMeasures();
  stream?.getTracks().forEach((track) => track.stop());
  $("#scales").replaceChildren(...SCALES.map(([name, text]) => scale(name, text)));
  const ratings = $("#goal-ratings");
  ratings.hidden = !goals.length;
  ratings.replaceChildren(ratings.firstElementChild, ...goals.map((goal) => scale(`goal-${goal.id}`, goal.statement)));
  $("#check-in-title").focus?.();
}

async function submitCheckIn(event) {
  event.preventDefault();
  const form = event.target;
  const value = (name) => Number(form.elements[name].value);
  $("#check-in-submit").disabled = true;
  try {
    try {
      await api(`/v1/sessions/${encodeURIComponent(sessionId)}/check-ins`, {
        method: "POST",
        body: { kind: "session", ...Object.fromEntries(SCALES.map(([name]) => [name, value(name)])) },
      });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
    }
    for (const goal of goals) {
      await api(`/v1/goals/${goal.id}/updates`, {
        method: "POST",
        body: { session_id: sessionId, progress: value(`goal-${goal.id}`), note: "" },
      });
    }
    show(["done"]);
    const progress = await api(`/v1/clients/${user.id}/progress?limit=200`);
    await renderProgress($("#progress"), progress, goals);
  } catch (error) {
    say($("#check-in-status"), error instanceof ApiError ? error.message : "Could not send your check-in. Try again.", "error");
    $("#check-in-submit").disabled = false;
  }
}

async function submitOutcome(event) {
  event.preventDefault();
  const form = event.target;
  const outcomeStatus = $("#outcome-status");
  $("#outcome-submit").disabled = true;
  try {
    await api(`/v1/sessions/${encodeURIComponent(sessionId)}/check-ins`, {
      method: "POST",
      body: { kind: "outcome", ...Object.fromEntries(OUTCOME_SCALES.map(([name]) => [name, Number(form.elements[`outcome-${name}`].value)])) },
    });
    say(outcomeStatus, "Thank you. Your clinician will see it.", "ok");
    $("#outcome-scales").hidden = true;
    $("#outcome-submit").hidden = true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      say(outcomeStatus, "You already told us about this week.", "ok");
      $("#outcome-submit").hidden = true;
    } else {
      say(outcomeStatus, error instanceof ApiError ? error.message : "Could not send it. Try again.", "error");
      $("#outcome-submit").disabled = false;
    }
  }
}

$("#outcome-form").addEventListener("submit", submitOutcome);
$("#join-waiting").addEventListener("click", () => joinWaitingRoom());
$("#consent-form").addEventListener("submit", signConsent);
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
$("#echo-start").addEventListener("click", startEcho);
$("#echo-stop").addEventListener("click", () => stopEcho("Test call stopped."));
$("#check-in-form").addEventListener("submit", submitCheckIn);
init();
