// Where a client stands with the clinic's telehealth consent, as a badge for their clinician.

import { dayOf, h } from "./ui.js";

const BADGES = {
  signed: ["Consent signed", "ok"],
  withdrawn: ["Consent withdrawn", "bad"],
  outdated: ["Consent: new version not signed", "warn"],
  not_signed: ["Consent not signed", "warn"],
};

/** The badge for `GET /v1/clients/{id}/consent`'s answer; null when there is nothing to say
 * (no consent published, or the status could not be read: not the clinician's client). */
export function consentBadge(consent) {
  const [text, kind] = BADGES[consent?.state] || [];
  if (!text) return null;
  const title = consent.latest ? `Version ${consent.latest.version} signed ${dayOf(consent.latest.signed_at)}` : "";
  return h("span", { class: `badge ${kind} consent-status`, title }, text);
}
