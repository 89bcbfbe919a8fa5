// Safety flags on a dashboard: the clinician's clients' unacknowledged flags (and, for the
// clinic's on-call, the ones escalated to them), each with its deadline and a form that
// records what was done. Polled, because a flag can be raised by a client in the waiting
// room at any moment.

import { ApiError, api } from "./api.js";
import { h, say, timeOf } from "./ui.js";

const ACTIONS = [
  ["reviewed-in-session", "Reviewed in session"],
  ["contacted", "Contacted the client"],
  ["safety-plan-updated", "Updated the safety plan"],
  ["referred", "Referred"],
];
const INSTRUMENTS = { "phq-9": "PHQ-9", "gad-7": "GAD-7", "wai-sr": "WAI-SR" };
const SEVERITY = { low: "several days", medium: "more than half the days", high: "nearly every day" };

export class SafetyFlags {
  /** `list` is the <ul> to fill; `nameOf(clientId)` resolves a display name; `onChange`
   * hears the flags after each refresh (the waiting room marks flagged clients with it). */
  constructor(list, { nameOf, onChange = () => {}, pollMs = 3000 } = {}) {
    this.list = list;
    this.nameOf = nameOf;
    this.onChange = onChange;
    this.flags = [];
    this.pollMs = pollMs;
    this.timer = null;
  }

  start() {
    const tick = async () => {
      await this.refresh();
      this.timer = setTimeout(tick, this.pollMs);
    };
    tick();
  }

  /** The client ids with an unacknowledged flag. */
  flaggedClients() {
    return new Set(this.flags.map((flag) => flag.client_id));
  }

  async refresh() {
    let flags;
    try {
      flags = await api("/v1/safety-flags");
    } catch {
      return;
    }
    const before = this.flags.map((f) => `${f.id}:${f.status}`).join();
    this.flags = flags;
    if (before !== flags.map((f) => `${f.id}:${f.status}`).join() || !this.list.children.length) {
      await this.render();
    }
    this.onChange(flags);
  }

  async render() {
    if (!this.flags.length) {
      this.list.replaceChildren(h("li", { class: "empty" }, "No safety flags waiting."));
      return;
    }
    const items = await Promise.all(this.flags.map((flag) => this.item(flag)));
    this.list.replaceChildren(...items);
  }

  async item(flag) {
    const name = await this.nameOf(flag.client_id);
    const overdue = flag.status === "escalated";
    const select = h(
      "select",
      { id: `ack-action-${flag.id}`, name: "action", required: true },
      ACTIONS.map(([value, label]) => h("option", { value }, label)),
    );
    const note = h("input", { id: `ack-note-${flag.id}`, name: "note", type: "text", maxlength: 2000 });
    const status = h("div", { class: "status", role: "status", hidden: true });
    const button = h("button", { type: "submit" }, `Acknowledge the flag for ${name}`);
    const form = h(
      "form",
      { class: "ack-form" },
      h("label", { for: select.id }, "What was done"),
      select,
      h("label", { for: note.id }, "Note (optional, stays in the record)"),
      note,
      status,
      button,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      try {
        await api(`/v1/safety-flags/${flag.id}/acknowledgement`, {
          method: "POST",
          body: { action: select.value, ...(note.value.trim() ? { note: note.value.trim() } : {}) },
        });
        await this.refresh();
      } catch (error) {
        say(status, error instanceof ApiError ? error.message : "Could not record it. Try again.", "error");
        button.disabled = false;
      }
    });
    return h(
      "li",
      { class: `safety-flag ${overdue ? "escalated" : ""}`, dataset: { flagId: flag.id, clientId: flag.client_id, status: flag.status } },
      h(
        "div",
        {},
        h("strong", {}, `Safety flag: ${name}`),
        " ",
        h("span", { class: `badge ${overdue ? "bad" : "warn"}` }, overdue ? "escalated" : "open"),
        h("br"),
        h(
          "span",
          { class: "meta" },
          `${INSTRUMENTS[flag.instrument] || flag.instrument} item 9: ${SEVERITY[flag.severity] || flag.severity}. Raised ${timeOf(flag.raised_at)}; acknowledge by ${timeOf(flag.due_at)}.`,
        ),
      ),
      form,
    );
  }
}
