// <rapport-chat>: a text conversation over signaling (docs/signaling.md, "Chat"). The page says
// where a message goes (`onsend`) and adds what signaling passes on (`add`), its own messages
// included, so both sides see the same order. Nothing is stored: it lives as long as the page.
//   <rapport-chat label="Message your clinician"></rapport-chat>
// Anything put inside the element (a recipient picker) goes into the form, before the text.

import { MAX_CHAT_CHARACTERS } from "./protocol.js";
import { h, timeOf } from "./ui.js";

let chats = 0;

class RapportChat extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.onsend = null;
    const id = `chat-${++chats}`;
    const own = [...this.children];
    this.log = h("ol", { class: "chat-log", role: "log", "aria-live": "polite", "aria-label": "Messages" });
    this.empty = h("p", { class: "meta" }, "No messages yet.");
    this.text = h("textarea", { id: `${id}-text`, rows: 2, maxlength: MAX_CHAT_CHARACTERS, required: true });
    this.status = h("p", { class: "meta", role: "status" });
    const form = h(
      "form",
      { class: "chat-form" },
      own,
      h("label", { for: this.text.id }, this.getAttribute("label") || "Message"),
      this.text,
      this.status,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Send")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.text.value.trim();
      if (!text) return;
      const sent = this.onsend?.(text);
      if (sent === false) return;
      this.text.value = "";
      this.status.textContent = "";
    });
    // Enter sends; Shift+Enter starts a new line.
    this.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    this.replaceChildren(this.log, this.empty, form);
  }

  /** Shows one `chat-message`: `who` wrote it (to `whom`, when that says something). */
  add(message, who, whom = "") {
    this.empty.hidden = true;
    this.log.append(
      h(
        "li",
        { dataset: { from: message.from } },
        h("span", { class: "who" }, who),
        whom ? h("span", { class: "meta" }, ` to ${whom}`) : null,
        h("span", { class: "meta" }, ` · ${timeOf(message.at)}`),
        h("br"),
        h("span", { class: "text" }, message.text),
      ),
    );
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** A word under the box (a message that could not go). */
  say(text) {
    this.status.textContent = text;
  }

  clear() {
    this.log.replaceChildren();
    this.empty.hidden = false;
  }
}

customElements.define("rapport-chat", RapportChat);
