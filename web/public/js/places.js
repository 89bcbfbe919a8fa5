// Countries and their regions (ISO 3166-1 and 3166-2, from records' /v1/places) for the
// location form and the jurisdictions editor, fetched once per page.

import { api } from "./api.js";
import { h } from "./ui.js";

let countries = null;
const regions = new Map();

export function listCountries() {
  countries ??= api("/v1/places/countries");
  return countries;
}

export function listRegions(country) {
  if (!regions.has(country)) regions.set(country, api(`/v1/places/regions?${new URLSearchParams({ country })}`));
  return regions.get(country);
}

/** "New York, United States" for US-NY (the code itself when it names nothing known). */
export async function placeName(regionCode) {
  const country = regionCode.split("-")[0];
  const [all, inCountry] = await Promise.all([listCountries(), listRegions(country).catch(() => [])]);
  const region = inCountry.find((r) => r.code === regionCode)?.name || regionCode;
  const countryName = all.find((c) => c.code === country)?.name || country;
  return `${region}, ${countryName}`;
}

/** Fills a <select> with the countries, `chosen` selected (a prompt first when none is). */
export async function fillCountries(select, chosen = "") {
  const all = await listCountries();
  select.replaceChildren(
    h("option", { value: "" }, "Choose a country"),
    ...all.map((c) => h("option", { value: c.code, selected: c.code === chosen }, c.name)),
  );
}

/** Fills a <select> with the country's regions, `chosen` selected. */
export async function fillRegions(select, country, chosen = "") {
  if (!country) {
    select.replaceChildren(h("option", { value: "" }, "Choose a country first"));
    select.disabled = true;
    return;
  }
  const found = await listRegions(country);
  select.disabled = false;
  select.replaceChildren(
    h("option", { value: "" }, found.length ? "Choose a region" : "This country has no regions to choose"),
    ...found.map((r) => h("option", { value: r.code, selected: r.code === chosen }, `${r.name} (${r.type.toLowerCase()})`)),
  );
}
