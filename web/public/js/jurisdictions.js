// A clinician's licensed jurisdictions on the account page (records' GET/PUT
// /v1/clinicians/me/jurisdictions): each added or removed region is saved at once.

import { api, requireUser } from "./api.js";
import { fillCountries, fillRegions, placeName } from "./places.js";
import { $, fieldError, h, say } from "./ui.js";

const user = await requireUser();
let regions = [];

async function render() {
  const names = await Promise.all(regions.map(placeName));
  $("#jurisdictions").replaceChildren(
    ...(regions.length
      ? regions.map((code, index) => {
          const remove = h("button", { type: "button", class: "secondary" }, `Remove ${names[index]}`);
          remove.addEventListener("click", () => save(regions.filter((r) => r !== code), `${names[index]} removed.`));
          return h("li", { dataset: { region: code } }, h("span", {}, names[index]), remove);
        })
      : [h("li", { class: "empty" }, "No regions yet: every client's location is flagged.")]),
  );
}

async function save(next, done) {
  const status = $("#jurisdictions-status");
  say(status, "");
  fieldError($("#jurisdiction-region"), "");
  try {
    regions = (await api("/v1/clinicians/me/jurisdictions", { method: "PUT", body: { regions: next } })).regions;
    await render();
    say(status, done, "ok");
  } catch (error) {
    const problem = error.body?.problems?.[0];
    if (problem) fieldError($("#jurisdiction-region"), problem.message.replace(/^Value error, /, ""));
    else say(status, error.message, "error");
  }
}

$("#jurisdiction-country").addEventListener("change", () => fillRegions($("#jurisdiction-region"), $("#jurisdiction-country").value));

$("#jurisdictions-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const region = $("#jurisdiction-region").value;
  if (!region) return fieldError($("#jurisdiction-region"), "Choose a region to add.");
  if (regions.includes(region)) return say($("#jurisdictions-status"), "That region is on your list already.", "ok");
  await save([...regions, region], `${await placeName(region)} added.`);
});

if (user.role === "clinician") {
  $("#jurisdictions-card").hidden = false;
  try {
    regions = (await api("/v1/clinicians/me/jurisdictions")).regions;
    await Promise.all([render(), fillCountries($("#jurisdiction-country"))]);
    await fillRegions($("#jurisdiction-region"), "");
  } catch (error) {
    say($("#jurisdictions-status"), `Could not load your jurisdictions: ${error.message}`, "error");
  }
}
