// The call's chat kept in the clinician's private record, when the clinic chose to (records'
// /v1/clinic/settings): the clinician's page, which receives every message of the call,
// keeps them at the call's end. Chat text goes to records alone, never through signaling's
// events. Both pages say whether the call's messages are kept.

import { api } from "./api.js";

let settings = null;

/** Whether the clinic keeps a call's chat (false when that cannot be learned: then the page
 * neither says nor does so). */
export async function keepsChat() {
  settings ??= api("/v1/clinic/settings").catch(() => ({ keep_chat_transcripts: false }));
  return (await settings).keep_chat_transcripts;
}

/** Says, in `hint`, that the call's messages are kept (when they are). */
export async function describeChat(hint, text) {
  if (await keepsChat()) hint.textContent = text;
}

/** Keeps the `chat-message`s of one call of the session; resolves to whether it did. */
export async function keepTranscript(sessionId, messages) {
  if (!messages.length || !(await keepsChat())) return false;
  await api(`/v1/sessions/${encodeURIComponent(sessionId)}/chat-transcript`, {
    method: "POST",
    body: { messages: messages.map((m) => ({ sender_id: m.from, sender_role: m.role, text: m.text, sent_at: m.at })) },
  });
  return true;
}
