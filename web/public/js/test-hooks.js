// Hooks for the browser tests: they read a live call's RTCPeerConnection (frames decoded,
// tracks sent) through `window.rapport*`. A page sets them only when the test asks, by the
// sessionStorage key below (the Playwright tests set it before any page script runs); for
// everyone else nothing of the call is left on `window`.

const ASKED = sessionStorage.getItem("rapport.test-hooks") === "on";

/** Sets `window[name]` (e.g. "rapportCall") when the tests asked for their hooks. */
export function expose(name, value) {
  if (ASKED) window[name] = value;
}
