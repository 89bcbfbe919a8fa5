// <rapport-call-stage>: the call as both sides see it, written once: the other person large,
// yourself small, the connection's quality, and mute and camera. The side's own buttons go
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
    this.replaceChildren(
      h("div", { class: "stage" }, this.remote, this.local, this.quality),
      h("div", { class: "controls" }, mute, camera, own),
    );
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
    this.stream = stream;
    this.local.srcObject = stream;
    call.addEventListener("remote-stream", (event) => (this.remote.srcObject = event.detail));
    call.addEventListener("quality", (event) => (this.quality.textContent = qualityText(event.detail)));
    expose("rapportCall", call);
  }

  /** After the call: nothing of it stays on the stage. */
  clear() {
    this.remote.srcObject = null;
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
