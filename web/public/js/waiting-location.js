// On the dashboard's waiting room: where each waiting client said they are for the session
// (records' GET /v1/sessions/{id}/location, for the session's clinician alone), with a
// warning when the region is outside the clinician's licensed jurisdictions, so that the
// clinician knows before admitting.

import { ApiError, api } from "./api.js";
import { placeName } from "./places.js";
import { h } from "./ui.js";

// A client who has not said yet may say while waiting: asked again this often until they have.
const POLL_MS = 4000;

export class WaitingLocations {
  constructor() {
    this.entries = new Map(); // "session user" -> {sessionId, userId, node, stated, loading}
    setInterval(() => this.refresh(), POLL_MS);
  }

  /** The element that shows where `person` (waiting for the session) said they are; the
   * same element each time, kept up to date, so the waiting list can be redrawn freely. */
  of(sessionId, person) {
    if (person.role && person.role !== "client") return null;
    const key = `${sessionId} ${person.user_id}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const node = h("span", { class: "location", dataset: { locationState: "loading" } }, h("span", { class: "meta" }, "Location: asking…"));
      entry = { sessionId, userId: person.user_id, node, stated: false, loading: false };
      this.entries.set(key, entry);
      this.load(entry);
    }
    return entry.node;
  }

  refresh() {
    for (const entry of this.entries.values()) {
      if (!entry.stated && !entry.loading && entry.node.isConnected) this.load(entry);
    }
  }

  async load(entry) {
    entry.loading = true;
    try {
      const stated = await api(`/v1/sessions/${encodeURIComponent(entry.sessionId)}/location`);
      if (stated.client_id !== entry.userId) return this.notYet(entry);
      entry.stated = true;
      await this.show(entry.node, stated);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.notYet(entry);
      else entry.node.replaceChildren(h("span", { class: "meta" }, `Location: could not be read (${error.message}).`));
    } finally {
      entry.loading = false;
    }
  }

  notYet(entry) {
    entry.node.dataset.locationState = "not-stated";
    entry.node.replaceChildren(h("span", { class: "badge warn" }, "Location not confirmed yet"));
  }

  async show(node, stated) {
    const [where, licensed] = await Promise.all([placeName(stated.region), Promise.all(stated.licensed_regions.map(placeName))]);
    const contact = stated.emergency_contact;
    node.dataset.locationState = "stated";
    node.replaceChildren(
      h("span", {}, "In ", h("strong", {}, where), stated.at_home ? " · at home" : " · not at home"),
      stated.jurisdiction_warning
        ? h(
            "span",
            { class: "status error", dataset: { jurisdictionWarning: stated.region } },
            h("strong", {}, "Outside your licensed jurisdictions. "),
            licensed.length ? `You are licensed in ${licensed.join("; ")}. ` : "You have listed none. ",
            h("a", { href: "/account#jurisdictions-title" }, "Your jurisdictions"),
          )
        : null,
      h("span", { class: "meta" }, `Address: ${stated.address}`),
      h("span", { class: "meta" }, `Emergency contact: ${contact.name}${contact.relationship ? ` (${contact.relationship})` : ""}, ${contact.phone}`),
    );
  }
}
