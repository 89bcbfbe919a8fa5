// Idle logoff (HIPAA 164.312(a)(2)(iii), ASVS 7.3): a signed-in page nobody has touched for the
// sign-in's idle timeout signs out, after a warning a minute before. The timeout is identity's
// (RAPPORT_IDENTITY_REFRESH_IDLE_TIMEOUT_SECONDS, reported at sign-in as refresh_expires_in):
// the page's own background refreshes would otherwise keep an unattended sign-in alive.
// Signing out ends the sign-in at identity, which closes its signaling sockets (REVOKED).
// A call in progress (a playing video) counts as someone being there.

import { idleTimeoutMs, signOut } from "./api.js";
import { h } from "./ui.js";

const WARNING_MS = 60_000;
const TICK_MS = 1_000;
const ACTIVITY = ["pointerdown", "keydown", "wheel", "touchstart"];

function inCall() {
  return [...document.querySelectorAll("video")].some((video) => video.srcObject && !video.paused);
}

let watching = null;

/** Starts watching this page for idleness (once per page). */
export function watchIdle() {
  const timeout = idleTimeoutMs();
  if (!timeout || watching) return;
  let last = Date.now();
  let warning = null;
  const stay = () => {
    last = Date.now();
    warning?.remove();
    warning = null;
  };
  for (const type of ACTIVITY) addEventListener(type, () => warning || stay(), { passive: true, capture: true });
  watching = setInterval(() => {
    if (inCall()) stay();
    const idle = Date.now() - last;
    if (idle >= timeout) {
      clearInterval(watching);
      signOut();
    } else if (idle >= timeout - Math.min(WARNING_MS, timeout / 2) && !warning) {
      const button = h("button", { type: "button", id: "idle-stay" }, "Stay signed in");
      button.addEventListener("click", stay);
      warning = h(
        "div",
        { id: "idle-warning", class: "notice", role: "alertdialog", "aria-live": "assertive", "aria-label": "Signing out soon" },
        h("p", {}, "You have been inactive. For your clients' privacy you will be signed out in a minute."),
        button,
      );
      document.body.prepend(warning);
      button.focus();
    }
  }, TICK_MS);
}
