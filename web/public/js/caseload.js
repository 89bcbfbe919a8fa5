// The clinician's caseload: who is off track, who has recovered, who has an open safety flag.

import { ApiError, api, displayName, requireUser } from "./api.js";
import "./topbar.js";
import { $, h, say } from "./ui.js";

await requireUser("clinician");

const CHANGE = {
  "reliable-improvement": "reliably improved",
  "reliable-deterioration": "reliably deteriorated",
  "no-reliable-change": "no reliable change",
};

function score(point) {
  return point ? `${point.total} (${point.band})` : "—";
}

try {
  const caseload = await api("/v1/clinicians/me/caseload");
  $("#caseload-caption").textContent = `Off track: reliably deteriorated, or not reliably improved by session ${caseload.review_session}.`;
  const rows = await Promise.all(
    caseload.clients.map(async (entry) => {
      const name = await displayName(entry.client_id);
      const marks = [
        entry.open_safety_flags ? h("span", { class: "badge bad" }, `${entry.open_safety_flags} safety flag${entry.open_safety_flags > 1 ? "s" : ""}`) : null,
        entry.off_track ? h("span", { class: "badge warn" }, "off track") : null,
        entry.recovered ? h("span", { class: "badge ok" }, "recovered") : null,
      ].filter(Boolean);
      return h(
        "tr",
        { dataset: { clientId: entry.client_id } },
        h("th", { scope: "row" }, h("a", { href: `/clinician/client?id=${entry.client_id}` }, name)),
        h("td", {}, String(entry.sessions_held)),
        h("td", {}, score(entry.latest["phq-9"])),
        h("td", {}, score(entry.latest["gad-7"])),
        h("td", {}, entry.change ? CHANGE[entry.change] : "—"),
        h("td", {}, marks.length ? marks : "—"),
      );
    }),
  );
  $("#caseload tbody").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 6 }, "No measures answered yet."))]));
} catch (error) {
  say($("#status"), error instanceof ApiError ? error.message : "Could not load your caseload.", "error");
}
