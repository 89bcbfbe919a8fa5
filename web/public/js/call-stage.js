// <rapport-call-stage>: the call as both sides see it, written once: the other person large,
// yourself small, the connection's quality, mute, camera and screen sharing (a screen the other
// side shares shows as a second video). The side's own buttons go
// inside the element and join the controls:
//   <rapport-call-stage peer="Your client"><button id="end-session" …>End session</button></rapport-call-stage>

import { qualityText } from "./signal.js";
import { expose } from "./test-hooks.js";
import { h } from "./ui.js";

class RapportCallStage extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.stream = null;
    const own = [...this.children];
    this.remote = h("video", { id: "remote-video", autoplay: true, playsinline: true, "aria-label": this.getAttribute("peer") || "The other person" });
    this.local = h("video", { id: "local-video", class: "self", autoplay: true, muted: true, playsinline: true, "aria-label": "You" });
    // The attribute sets only the default; a video element plays its sound unless `muted` is set.
    this.local.muted = true;
    this.quality = h("span", { id: "quality", class: "quality", role: "status" }, "Connecting…");
    const mute = this.#toggle("mute", "audio", "Mute", "Unmute");
    const camera = this.#toggle("camera", "video", "Camera off", "Camera on");
    this.share = h("button", { id: "share-screen", class: "secondary", type: "button", "aria-pressed": "false" }, "Share screen");
    this.share.addEventListener("click", () => this.#toggleSharing());
    this.screen = h("video", { id: "shared-screen", class: "shared", autoplay: true, muted: true, playsinline: true, "aria-label": "Shared screen", hidden: true });
    this.screen.muted = true;
    this.sharing = h("p", { id: "sharing-status", class: "meta", role: "status" });
    this.replaceChildren(
      h("div", { class: "stage" }, this.remote, this.local, this.quality),
      this.screen,
      h("div", { class: "controls" }, mute, camera, this.share, own),
      this.sharing,
    );
  }

  async #toggleSharing() {
    const call = this.call;
    if (!call) return;
    if (call.screenTransceiver) return call.stopSharing();
    try {
      await call.shareScreen();
    } catch (error) {
      // Cancelling the browser's picker is a choice, not a failure.
      this.sharing.textContent = error.name === "NotAllowedError" ? "" : "Your screen could not be shared.";
    }
  }

  #showSharing(sharing) {
    this.share.setAttribute("aria-pressed", String(sharing));
    this.share.textContent = sharing ? "Stop sharing" : "Share screen";
    this.sharing.textContent = sharing ? "You are sharing your screen." : "";
  }

  #showScreen(stream) {
    this.screen.srcObject = stream;
    this.screen.hidden = !stream;
  }

  /** A mute or camera button: pressed, it turns this side's tracks of `kind` off. */
  #toggle(id, kind, onText, offText) {
    const button = h("button", { id, class: "secondary", type: "button", "aria-pressed": "false" }, onText);
    button.addEventListener("click", () => {
      const off = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(off));
      button.textContent = off ? offText : onText;
      for (const track of this.stream?.getTracks() || []) if (track.kind === kind) track.enabled = !off;
    });
    return button;
  }

  /** Shows `call` (a signal.js Call) with this side's camera and microphone, `stream`. */
  show(call, stream) {
    this.call = call;
    this.stream = stream;
    this.local.srcObject = stream;
    this.#showSharing(false);
    this.#showScreen(null);
    call.addEventListener("remote-stream", (event) => (this.remote.srcObject = event.detail));
    call.addEventListener("sharing", (event) => this.call === call && this.#showSharing(Boolean(event.detail)));
    call.addEventListener("screen", (event) => this.call === call && this.#showScreen(event.detail));
    call.addEventListener("quality", (event) => (this.quality.textContent = qualityText(event.detail)));
    expose("rapportCall", call);
  }

  /** After the call: nothing of it stays on the stage. */
  clear() {
    this.call = null;
    this.remote.srcObject = null;
    this.#showSharing(false);
    this.#showScreen(null);
    expose("rapportCall", null);
  }

  /** A word about the connection where its quality shows ("… is reconnecting"). */
  say(text) {
    this.quality.textContent = text;
  }

  focusPeer() {
    this.remote.focus?.();
  }
}

customElements.define("rapport-call-stage", RapportCallStage);
