// Generated from services/signaling/schemas.py and settings.py by
// `python -m services.signaling protocol-docs`; edit those, not this file.
// The rapport.signal.v1 constants the pages use (docs/signaling.md is the reference).

export const SUBPROTOCOL = "rapport.signal.v1";

/** The server's close codes, by name. */
export const CLOSE_CODES = Object.freeze({
  NORMAL: 1000,
  UNAUTHORIZED: 4001,
  FORBIDDEN: 4003,
  UNKNOWN_SESSION: 4004,
  SESSION_ENDED: 4008,
  REPLACED: 4010,
  MOVED: 4012,
  PROTOCOL_ERROR: 4400,
  REVOKED: 4401,
  IDLE: 4408,
  TOO_LATE: 4410,
  TOO_BIG: 4413,
  TOO_EARLY: 4425,
  TOO_FAST: 4429,
  CONSENT_REQUIRED: 4451,
});

/** What a person is told when their connection closed with each code. */
export const CLOSE_REASONS = Object.freeze({
  1000: "You left the session.",
  4001: "Your sign-in for this session expired. Reload the page to try again.",
  4003: "You cannot join this session.",
  4004: "This session is not known yet.",
  4008: "The session has ended.",
  4010: "You joined this session from another window.",
  4012: "Reconnecting to the session\u2026",
  4400: "This page could not talk to the session service. Reload the page to try again.",
  4401: "You were signed out of Rapport. Sign in again to join.",
  4408: "The connection was idle for too long.",
  4410: "This session's time has passed.",
  4413: "This page sent a message the session service could not take. Reload the page to join again.",
  4425: "This session is not open yet.",
  4429: "This page sent too many messages at once. Reload the page to join again.",
  4451: "Please read and sign your clinic's telehealth consent before joining.",
});

/** Signaling's default join window: minutes before the start, and after the end. */
export const JOIN_WINDOW = Object.freeze({
  opensMinutesBefore: 15,
  closesMinutesAfter: 30,
});

/** The largest message signaling takes (bytes; larger ones close the socket with 4413). */
export const MAX_MESSAGE_BYTES = 65536;

/** The longest `chat` text, in characters (a longer one is refused: `invalid-message`). */
export const MAX_CHAT_CHARACTERS = 2000;

/** Messages per second, and the burst, one connection may send. */
export const RATE_LIMIT = Object.freeze({
  perSecond: 50,
  burst: 100,
});
