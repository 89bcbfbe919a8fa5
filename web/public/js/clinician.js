// The clinician's dashboard: schedule, booking, the live waiting room of every session that
// is open now, and the call with its goal panel and notes.

import { ApiError, api, displayName, optional, requireUser } from "./api.js";
import { CLOSE_CODES, CLOSE_REASONS } from "./protocol.js";
import "./call-stage.js";
import "./chat.js";
import { consentBadge } from "./consent-badge.js";
import { SafetyFlags } from "./safety-flags.js";
import { Call, Signaling, openDevices } from "./signal.js";
import { describeChat, keepTranscript } from "./transcript.js";
import { WaitingLocations } from "./waiting-location.js";
import "./topbar.js";
import { $, copyText, dayOf, h, joinable, sameDay, say, sinceText, timeOf } from "./ui.js";

const user = await requireUser("clinician");
const stage = $("rapport-call-stage");
const waitingChat = $("#waiting-chat");
const callChat = $("#call-chat");
const status = $("#status");
const rooms = new Map(); // session id -> {appointment, signaling, waiting, iceServers, pending}
const clientNames = new Map();
const finished = new Set(); // sessions that ended or whose window closed: not reopened
let appointments = [];
let stream = null;
let active = null; // {room, call, clientId, goals}
let presence = "online"; // what waiting clients are told (signaling sets online on joining)
let sentBack = null; // the client just sent back to the waiting room
let flagged = new Set(); // clients with an unacknowledged safety flag, shown before admitting
const locations = new WaitingLocations(); // where each waiting client said they are
describeChat($("#call-chat-hint"), "Seen by everyone in the call. Your clinic keeps the call's messages in your private record when the call ends.");

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

async function nameOf(clientId) {
  if (!clientNames.has(clientId)) clientNames.set(clientId, await displayName(clientId));
  return clientNames.get(clientId);
}

async function loadClients() {
  const [relationships, directory] = await Promise.all([
    api("/v1/care-relationships"),
    optional("/v1/users?role=client").catch(() => null),
  ]);
  for (const entry of directory || []) clientNames.set(entry.id, entry.display_name);
  const ids = new Set([...relationships.filter((r) => r.status === "active").map((r) => r.client_id), ...(directory || []).map((e) => e.id)]);
  const clients = await Promise.all([...ids].map(async (id) => ({ id, name: await nameOf(id) })));
  clients.sort((a, b) => a.name.localeCompare(b.name));
  const select = $("#book-client");
  const chosen = select.value;
  select.replaceChildren(
    h("option", { value: "" }, clients.length ? "Choose a client" : "No clients yet"),
    ...clients.map((c) => h("option", { value: c.id, selected: c.id === chosen }, c.name)),
  );
  const active = new Set(relationships.filter((r) => r.status === "active").map((r) => r.client_id));
  const consents = new Map(
    await Promise.all([...active].map(async (id) => [id, await api(`/v1/clients/${id}/consent`).catch(() => null)])),
  );
  $("#clients").replaceChildren(
    ...(clients.length
      ? clients.map((c) => h("li", { dataset: { clientId: c.id } }, h("span", {}, c.name), consentBadge(consents.get(c.id)), h("a", { href: `/clinician/client?id=${c.id}` }, `Open ${c.name}'s record`)))
      : [h("li", { class: "empty" }, "No clients yet.")]),
  );
}

function appointmentItem(appointment, name, withDay) {
  const when = withDay ? `${dayOf(appointment.starts_at)} ${timeOf(appointment.starts_at)}` : `${timeOf(appointment.starts_at)}–${timeOf(appointment.ends_at)}`;
  const open = rooms.has(appointment.session_id);
  return h(
    "li",
    { dataset: { sessionId: appointment.session_id } },
    h("span", {}, h("strong", {}, when), " ", name, " ", h("span", { class: `badge ${appointment.status === "cancelled" ? "bad" : ""}` }, appointment.status)),
    h(
      "span",
      { class: "actions" },
      open ? h("span", { class: "badge ok" }, "Room open") : null,
      h("a", { href: `/clinician/client?id=${appointment.client_id}` }, "Record"),
    ),
  );
}

async function loadSchedule() {
  appointments = await api("/v1/appointments");
  const now = new Date();
  const weekEnd = new Date(now.getTime() + 7 * 86400000);
  const live = appointments.filter((a) => a.status !== "cancelled");
  const today = live.filter((a) => sameDay(new Date(a.starts_at), now));
  const week = live.filter((a) => {
    const starts = new Date(a.starts_at);
    return starts > now && starts < weekEnd && !sameDay(starts, now);
  });
  for (const appointment of live.filter((a) => joinable(a))) openRoom(appointment);
  await renderGuestSessions([...today, ...week]);
  const render = async (list, withDay) => Promise.all(list.map(async (a) => appointmentItem(a, await nameOf(a.client_id), withDay)));
  $("#today").replaceChildren(...(today.length ? await render(today, false) : [h("li", { class: "empty" }, "Nothing booked today.")]));
  $("#week").replaceChildren(...(week.length ? await render(week, true) : [h("li", { class: "empty" }, "Nothing else this week.")]));
}

function renderWaiting() {
  const items = [];
  for (const room of rooms.values()) {
    for (const person of room.waiting) {
      const name = person.display_name || clientNames.get(person.user_id) || "A client";
      // A guest has no account to look a name up in: the name they gave is the one to show.
      if (person.role === "guest") clientNames.set(person.user_id, name);
      const admit = h("button", { type: "button", disabled: Boolean(active && active.room !== room) }, `Admit ${name}`);
      admit.addEventListener("click", () => admitOne(room, person.user_id, admit));
      const decline = h("button", { type: "button", class: "secondary" }, `Decline ${name}`);
      decline.addEventListener("click", () => room.signaling.send({ type: "decline", user_id: person.user_id }));
      const flag = flagged.has(person.user_id) ? h("span", { class: "badge bad safety-badge" }, "Safety flag") : null;
      const guestBadge = person.role === "guest" ? h("span", { class: "badge" }, "Guest") : null;
      items.push(
        h(
          "li",
          { dataset: { userId: person.user_id, sessionId: room.appointment.session_id } },
          h("span", {}, h("strong", {}, name), " ", guestBadge, flag, h("br"), h("span", { class: "meta" }, `Waiting since ${timeOf(person.since)} (${sinceText(person.since)}) · session at ${timeOf(room.appointment.starts_at)}`), locations.of(room.appointment.session_id, person)),
          h("span", { class: "actions" }, admit, decline),
        ),
      );
    }
  }
  renderChatRecipients();
  const open = [...rooms.values()].length;
  $("#waiting-list").replaceChildren(
    ...(items.length ? items : [h("li", { class: "empty" }, open ? "Nobody is waiting." : "No session is open right now.")]),
  );
  $("#admit-all").disabled = items.length === 0 || Boolean(active);
}

/** Whom the waiting room's chat can reach: everyone waiting, or one of them. */
function renderChatRecipients() {
  const select = $("#waiting-chat-to");
  const chosen = select.value;
  const options = [h("option", { value: "waiting" }, "Everyone waiting")];
  for (const room of rooms.values()) {
    for (const person of room.waiting) {
      const value = `${room.appointment.session_id} ${person.user_id}`;
      const name = person.display_name || clientNames.get(person.user_id) || "A client";
      options.push(h("option", { value, selected: value === chosen }, name));
    }
  }
  select.replaceChildren(...options);
}

function nameInRoom(room, userId) {
  const waiting = room.waiting.find((p) => p.user_id === userId);
  return waiting?.display_name || clientNames.get(userId) || "A client";
}

// The one room a message to everyone waiting shows from (each room echoes it).
let broadcastEcho = null;

waitingChat.onsend = (text) => {
  const to = $("#waiting-chat-to").value;
  if (to === "waiting") {
    const open = [...rooms.values()].filter((room) => room.waiting.length);
    if (!open.length) {
      waitingChat.say("Nobody is waiting.");
      return false;
    }
    broadcastEcho = open[0];
    for (const room of open) room.signaling.send({ type: "chat", text, to: "waiting" });
    return true;
  }
  const [sessionId, userId] = to.split(" ");
  const room = rooms.get(sessionId);
  if (!room) return false;
  room.signaling.send({ type: "chat", text, to: userId });
  return true;
};

callChat.onsend = (text) => {
  if (!active) return false;
  active.room.signaling.send({ type: "chat", text, to: "call" });
  return true;
};

/** A chat message from one room: the call's conversation or the waiting room's. */
function showChat(room, message) {
  const mine = message.from === user.id;
  const other = mine ? message.to : message.from;
  const inCall = active?.room === room && (message.to === "call" || other === active.clientId);
  if (mine && message.to === "waiting" && broadcastEcho && broadcastEcho !== room) return;
  const who = mine ? "You" : nameInRoom(room, message.from);
  const whom = message.to === "waiting" ? "everyone waiting" : mine && message.to !== "call" ? nameInRoom(room, message.to) : "";
  (inCall ? callChat : waitingChat).add(message, who, whom);
  if (inCall) active.transcript.push(message);
}

async function ensureStream() {
  if (!stream) {
    const devices = await openDevices();
    stream = devices.stream;
    if (!stream) say(status, "Your camera or microphone is not available; the client will not see or hear you.", "error");
  }
  return stream;
}

async function admitOne(room, userId, button) {
  button.disabled = true;
  await ensureStream();
  room.signaling.send({ type: "admit", user_id: userId });
}

function openRoom(appointment) {
  if (rooms.has(appointment.session_id) || finished.has(appointment.session_id)) return;
  const signaling = new Signaling(appointment.session_id, user.display_name);
  const room = { appointment, signaling, waiting: [], iceServers: [], pending: [] };
  rooms.set(appointment.session_id, room);
  signaling.on("joined", async (message) => {
    if (presence !== "online") signaling.send({ type: "presence", status: presence });
    room.waiting = message.waiting || [];
    renderWaiting();
    room.iceServers = await signaling.iceServers();
    const client = message.peers.find((p) => p.role === "client");
    if (client && !active) startCall(room, client); // resumed with the client still in the call
  });
  signaling.on("waiting-room", (message) => {
    room.waiting = message.waiting;
    renderWaiting();
  });
  signaling.on("peer-joined", (message) => startCall(room, message.peer));
  signaling.on("chat-message", (message) => showChat(room, message));
  for (const type of ["offer", "answer", "ice-candidate"]) {
    signaling.on(type, (message) => (active?.room === room ? active.call.handle(message) : room.pending.push(message)));
  }
  signaling.on("peer-left", (message) => {
    if (active?.room === room && active.clientId === message.user_id) {
      const back = sentBack === message.user_id;
      sentBack = null;
      endCallView(back ? `${clientNames.get(message.user_id) || "Your client"} is back in the waiting room.` : "Your client left the call.");
    }
  });
  signaling.on("peer-reconnecting", () => active?.room === room && stage.say("Your client is reconnecting…"));
  signaling.on("peer-back", ({ moved }) => active?.room === room && active.call.restart({ moved }));
  signaling.on("goal-updated", (message) => {
    const mark = document.querySelector(`[data-shared-goal="${message.goal_id}"]`);
    if (mark) mark.textContent = `Shared ${message.progress}/10 at ${timeOf(message.at)}`;
  });
  signaling.on("ended", () => {
    finished.add(appointment.session_id);
    if (active?.room === room) endCallView("The session has ended. Well done.");
    rooms.delete(appointment.session_id);
    renderWaiting();
    loadSchedule();
  });
  signaling.on("closed", ({ code }) => {
    rooms.delete(appointment.session_id);
    if (code === CLOSE_CODES.REPLACED) {
      // Opened in another window: leave it there rather than take it back every minute.
      finished.add(appointment.session_id);
      say(status, `The session at ${timeOf(appointment.starts_at)} is open in another window.`);
    }
    if (active?.room === room) endCallView(CLOSE_REASONS[code] || "The connection was lost.");
    renderWaiting();
  });
  signaling.open({ retryForMs: 10 * 60_000 }).catch((error) => {
    rooms.delete(appointment.session_id);
    renderWaiting();
    if ([CLOSE_CODES.SESSION_ENDED, CLOSE_CODES.TOO_LATE].includes(error.code)) finished.add(appointment.session_id);
    else say(status, `Session at ${timeOf(appointment.starts_at)}: ${error.message}`, "error");
  });
}

async function startCall(room, peer) {
  if (active) return;
  await ensureStream();
  if (active) return; // another start got here first while the camera opened
  const call = new Call(room.signaling, { peerId: peer.user_id, polite: false, localStream: stream, iceServers: room.iceServers });
  active = { room, call, clientId: peer.user_id, goals: [], transcript: [] };
  stage.show(call, stream);
  const queued = room.pending;
  room.pending = [];
  for (const message of queued) call.handle(message);
  call.start();
  $("#call").hidden = false;
  $("#call-title").textContent = `In session with ${await nameOf(peer.user_id)}`;
  renderWaiting();
  // A guest has no goals of their own: the panel stays for a client's.
  if (peer.role === "guest") $("#goal-panel").replaceChildren(h("p", { class: "muted" }, "A guest of the session: no goals."));
  else await loadGoalPanel(peer.user_id);
  $("#call").scrollIntoView({ block: "start" });
}

/** The clinician's latest standing rating of a goal, to start the slider from. */
async function latestRating(goal) {
  const history = await api(`/v1/goals/${goal.id}/updates`).catch(() => []);
  const own = history.filter((u) => u.author_role === "clinician" && !u.entered_in_error);
  own.sort((a, b) => a.recorded_at.localeCompare(b.recorded_at));
  return own.at(-1)?.progress ?? 5;
}

async function loadGoalPanel(clientId) {
  const goals = (await api(`/v1/goals?client_id=${clientId}`)).filter((g) => g.status === "active");
  const ratings = await Promise.all(goals.map(latestRating));
  if (active) active.goals = goals;
  $("#goal-panel").replaceChildren(
    ...(goals.length
      ? goals.map((goal, index) => {
          const id = `progress-${goal.id}`;
          const value = ratings[index];
          const range = h("input", { type: "range", min: 0, max: 10, step: 1, value, id, "aria-describedby": `${id}-value` });
          const output = h("output", { id: `${id}-value`, for: id }, String(value));
          range.addEventListener("input", () => (output.textContent = range.value));
          const note = h("input", { type: "text", id: `${id}-note`, maxlength: 500 });
          const share = h("button", { type: "button", class: "secondary", dataset: { goalId: goal.id } }, "Share progress");
          const shared = h("span", { class: "meta", role: "status", dataset: { sharedGoal: goal.id } });
          share.addEventListener("click", () => shareProgress(goal, Number(range.value), note));
          return h(
            "div",
            { class: "goal", dataset: { goalId: goal.id } },
            h("label", { for: id, class: "statement" }, goal.statement),
            h("div", { class: "scale" }, range, output),
            h("label", { for: `${id}-note` }, "Short note (private)"),
            note,
            h("div", { class: "actions" }, share, shared),
          );
        })
      : [h("p", { class: "empty" }, "No agreed goals with this client yet.")]),
  );
}

async function shareProgress(goal, progress, noteInput) {
  if (!active) return;
  active.room.signaling.send({ type: "goal-update", goal_id: goal.id, progress });
  const text = noteInput.value.trim();
  if (text) {
    // Progress travels live through signaling; notes are written in records, never relayed.
    try {
      await api("/v1/notes", {
        method: "POST",
        body: { client_id: active.clientId, session_id: active.room.appointment.session_id, visibility: "private", text: `${goal.statement}: ${text}` },
      });
      noteInput.value = "";
    } catch (error) {
      say(status, `The note was not saved: ${error.message}`, "error");
    }
  }
}

function endCallView(message) {
  active?.call.close();
  if (active) {
    keepTranscript(active.room.appointment.session_id, active.transcript).catch((error) => say(status, `The call's messages were not kept: ${error.message}`, "error"));
  }
  // The call's conversation is not kept: the next call starts with none.
  callChat.clear();
  // What the ended call's peer sent last (trailing ICE candidates) must not reach the next call.
  if (active) active.room.pending = [];
  active = null;
  stage.clear();
  $("#call").hidden = true;
  say(status, message);
  renderWaiting();
}

$("#book-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const bookStatus = $("#book-status");
  const clientId = $("#book-client").value;
  const startValue = $("#book-start").value;
  if (!clientId || !startValue) return say(bookStatus, "Choose a client and a start time.", "error");
  const starts = new Date(startValue);
  const ends = new Date(starts.getTime() + Number($("#book-length").value) * 60000);
  $("#book-submit").disabled = true;
  try {
    await api("/v1/appointments", { method: "POST", body: { client_id: clientId, starts_at: starts.toISOString(), ends_at: ends.toISOString() } });
    say(bookStatus, `Booked ${await nameOf(clientId)} on ${dayOf(starts.toISOString())} at ${timeOf(starts.toISOString())}.`, "ok");
    await loadSchedule();
  } catch (error) {
    say(bookStatus, error instanceof ApiError ? error.message : "Could not book.", "error");
  } finally {
    $("#book-submit").disabled = false;
  }
});

$("#note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!active) return;
  const form = event.target;
  try {
    await api("/v1/notes", {
      method: "POST",
      body: { client_id: active.clientId, session_id: active.room.appointment.session_id, visibility: form.elements.visibility.value, text: $("#note-text").value.trim() },
    });
    $("#note-text").value = "";
    say($("#note-status"), "Note saved.", "ok");
  } catch (error) {
    say($("#note-status"), error.message, "error");
  }
});

$("#admit-all").addEventListener("click", async () => {
  await ensureStream();
  for (const room of rooms.values()) if (room.waiting.length) room.signaling.send({ type: "admit-all" });
});
$("#end-session").addEventListener("click", () => active?.room.signaling.send({ type: "end" }));
$("#send-back").addEventListener("click", () => {
  if (!active) return;
  sentBack = active.clientId;
  active.room.signaling.send({ type: "send-back", user_id: active.clientId });
});
$("#presence").addEventListener("change", (event) => {
  presence = event.target.value;
  for (const room of rooms.values()) room.signaling.send({ type: "presence", status: presence });
  const open = rooms.size;
  $("#presence-status").textContent = open
    ? `Waiting clients see you as ${presence === "away" ? "away for a moment" : "online"}.`
    : "No session is open; your status applies when one opens.";
});

const RELATIONSHIP_TEXT = { interpreter: "Interpreter", "family-member": "Family member", caregiver: "Caregiver", supervisor: "Supervisor", other: "Guest" };

/** The sessions a guest can be invited to: today's and this week's, soonest first. */
async function renderGuestSessions(list) {
  const select = $("#guest-session");
  const chosen = select.value;
  const sorted = [...list].sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  const options = await Promise.all(sorted.map(async (a) => h("option", { value: a.session_id }, `${dayOf(a.starts_at)} ${timeOf(a.starts_at)} · ${await nameOf(a.client_id)}`)));
  select.replaceChildren(...(options.length ? options : [h("option", { value: "" }, "No session booked this week")]));
  if (sorted.some((a) => a.session_id === chosen)) select.value = chosen;
  $("#guest-submit").disabled = !options.length;
  await loadGuestLinks();
}

async function loadGuestLinks() {
  const sessionId = $("#guest-session").value;
  const links = sessionId ? (await optional(`/v1/guest-links?session_id=${encodeURIComponent(sessionId)}`)) || [] : [];
  $("#guest-links").replaceChildren(
    ...(links.length
      ? links.map((link) => {
          const label = RELATIONSHIP_TEXT[link.relationship] || "Guest";
          const revoke = link.status === "revoked" ? null : h("button", { type: "button", class: "secondary" }, `Revoke ${label.toLowerCase()}`);
          revoke?.addEventListener("click", () => revokeGuest(link, revoke));
          return h(
            "li",
            { dataset: { guestId: link.guest_id } },
            h("span", {}, label, " ", h("span", { class: `badge ${link.status === "revoked" || link.status === "expired" ? "bad" : link.status === "redeemed" ? "ok" : ""}` }, link.status)),
            h("span", { class: "actions" }, revoke),
          );
        })
      : [h("li", { class: "empty" }, "No guests invited to this session.")]),
  );
}

async function revokeGuest(link, button) {
  button.disabled = true;
  try {
    await api(`/v1/guest-links/${link.guest_id}`, { method: "DELETE" });
    say($("#guest-status"), "Guest revoked: the link no longer works, and they leave the session if they are in it.", "ok");
  } catch (error) {
    say($("#guest-status"), error.message, "error");
  }
  await loadGuestLinks();
}

$("#guest-session").addEventListener("change", () => loadGuestLinks().catch((error) => say($("#guest-status"), error.message, "error")));
$("#guest-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const guestStatus = $("#guest-status");
  const sessionId = $("#guest-session").value;
  if (!sessionId) return say(guestStatus, "Choose the session the guest joins.", "error");
  $("#guest-submit").disabled = true;
  try {
    const issued = await api("/v1/guest-links", { method: "POST", body: { session_id: sessionId, relationship: $("#guest-relationship").value } });
    // In the fragment: browsers never send it to the server or in a Referer.
    const link = `${location.origin}/guest#${new URLSearchParams({ link: issued.link_token })}`;
    $("#guest-link").value = link;
    $("#guest-link").rows = Math.min(8, Math.ceil(link.length / 28) + 1);
    $("#guest-link-box").hidden = false;
    $("#copy-guest-status").textContent = "";
    say(guestStatus, `Guest link created; it works once, until ${dayOf(issued.expires_at)} ${timeOf(issued.expires_at)}.`, "ok");
    await loadGuestLinks();
  } catch (error) {
    say(guestStatus, error.message, "error");
  } finally {
    $("#guest-submit").disabled = false;
  }
});
$("#copy-guest-link").addEventListener("click", async () => {
  const copied = await copyText($("#guest-link").value);
  if (!copied) $("#guest-link").select();
  $("#copy-guest-status").textContent = copied ? "Copied." : "Select the link and copy it.";
});

async function loadInvitations() {
  const invitations = (await optional("/v1/invitations")) || [];
  $("#invitations").replaceChildren(
    ...(invitations.length
      ? invitations.slice(0, 10).map((i) => h("li", {}, h("span", {}, i.email), h("span", { class: `badge ${i.status === "accepted" ? "ok" : i.status === "expired" ? "bad" : ""}` }, i.status)))
      : [h("li", { class: "empty" }, "No invitations yet.")]),
  );
}

$("#invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const inviteStatus = $("#invite-status");
  const email = $("#invite-email").value.trim();
  if (!$("#invite-email").checkValidity() || !email) return say(inviteStatus, "Enter the client's email address.", "error");
  $("#invite-submit").disabled = true;
  try {
    const issued = await api("/v1/invitations", { method: "POST", body: { email } });
    // In the fragment: browsers never send it to the server or in a Referer.
    const link = `${location.origin}/accept-invitation#${new URLSearchParams({ token: issued.invitation, email: issued.email })}`;
    $("#invitation-link").value = link;
    $("#invitation-link").rows = Math.min(8, Math.ceil(link.length / 28) + 1); // all of it in view
    $("#invitation").hidden = false;
    $("#copy-status").textContent = "";
    say(inviteStatus, `Invitation for ${issued.email} created; it expires ${dayOf(issued.expires_at)} ${timeOf(issued.expires_at)}.`, "ok");
    $("#invite-email").value = "";
    await loadInvitations();
  } catch (error) {
    say(inviteStatus, error.message, "error");
  } finally {
    $("#invite-submit").disabled = false;
  }
});
$("#copy-invitation").addEventListener("click", async () => {
  const copied = await copyText($("#invitation-link").value);
  if (!copied) $("#invitation-link").select();
  $("#copy-status").textContent = copied ? "Copied." : "Select the link and copy it.";
});

const next = new Date(Date.now() + 5 * 60000);
next.setMinutes(Math.ceil(next.getMinutes() / 5) * 5, 0, 0);
$("#book-start").value = localInput(next);
renderWaiting();
Promise.all([loadClients(), loadSchedule(), loadInvitations()]).catch((error) => say(status, error.message, "error"));
setInterval(() => {
  loadSchedule().catch(() => {});
  renderWaiting();
}, 60_000);

new SafetyFlags($("#safety-flags"), {
  nameOf,
  onChange(flags) {
    const now = new Set(flags.map((flag) => flag.client_id));
    const changed = now.size !== flagged.size || [...now].some((id) => !flagged.has(id));
    flagged = now;
    if (changed) renderWaiting();
  },
}).start();
