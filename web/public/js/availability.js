// The clinician's availability: weekly hours in their own time zone, and exceptions (days or
// hours off, extra hours) on local dates. Clients book the free slots these leave.

import { ApiError, api, currentUser, requireUser } from "./api.js";
import "./topbar.js";
import { $, fieldError, h, say } from "./ui.js";

await requireUser("clinician");

const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const CLOCK = "([01][0-9]|2[0-3]):[0-5][0-9]|24:00";
const status = $("#status");
let rowCount = 0;

const title = (day) => day[0].toUpperCase() + day.slice(1);

function hoursRow(hours = { weekday: "monday", start: "09:00", end: "17:00" }) {
  rowCount += 1;
  const n = rowCount;
  const day = h("select", { name: "weekday", "aria-label": `Day (hours ${n})` }, ...WEEKDAYS.map((d) => h("option", { value: d, selected: d === hours.weekday }, title(d))));
  const start = h("input", { name: "start", value: hours.start, inputmode: "numeric", pattern: CLOCK, placeholder: "09:00", required: true, "aria-label": `From (hours ${n})` });
  const end = h("input", { name: "end", value: hours.end, inputmode: "numeric", pattern: CLOCK, placeholder: "17:00", required: true, "aria-label": `Until (hours ${n})` });
  const remove = h("button", { type: "button", class: "link" }, "Remove");
  remove.setAttribute("aria-label", `Remove hours ${n}`);
  const row = h("li", { class: "hours-row" }, day, start, h("span", { "aria-hidden": "true" }, "–"), end, remove);
  remove.addEventListener("click", () => {
    row.remove();
    renderEmpty();
  });
  return row;
}

function renderEmpty() {
  const list = $("#hours");
  const rows = list.querySelectorAll(".hours-row");
  list.querySelector(".empty")?.remove();
  if (!rows.length) list.append(h("li", { class: "empty" }, "No weekly hours: clients cannot book you."));
}

function describeException(e) {
  const days = e.first_day === e.last_day ? e.first_day : `${e.first_day} to ${e.last_day}`;
  const hours = e.start ? ` ${e.start}–${e.end}` : " (whole day)";
  return `${e.kind === "off" ? "Time off" : "Extra hours"}: ${days}${hours}`;
}

function renderExceptions(exceptions) {
  $("#exceptions").replaceChildren(
    ...(exceptions.length
      ? exceptions.map((e) => {
          const text = describeException(e);
          const remove = h("button", { type: "button", class: "secondary", "aria-label": `Remove ${text}` }, "Remove");
          remove.addEventListener("click", async () => {
            remove.disabled = true;
            try {
              await api(`/v1/availability/exceptions/${e.id}`, { method: "DELETE" });
              await load();
            } catch (error) {
              remove.disabled = false;
              say(status, error.message, "error");
            }
          });
          return h("li", { dataset: { exceptionId: e.id } }, h("span", {}, text), remove);
        })
      : [h("li", { class: "empty" }, "No exceptions.")]),
  );
}

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

async function load() {
  let availability = null;
  try {
    availability = await api("/v1/availability");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  if (availability) {
    $("#time-zone").value = availability.time_zone;
    $("#slot-minutes").value = availability.slot_minutes;
    $("#step-minutes").value = availability.step_minutes;
    $("#hours").replaceChildren(...availability.weekly_hours.map((hours) => hoursRow(hours)));
    renderEmpty();
    renderExceptions(availability.exceptions);
  } else {
    $("#time-zone").value ||= currentUser()?.time_zone || browserZone();
    $("#slot-minutes").value ||= 50;
    $("#step-minutes").value ||= 60;
    if (!$("#hours .hours-row")) {
      $("#hours").replaceChildren(...WEEKDAYS.slice(0, 5).map((weekday) => hoursRow({ weekday, start: "09:00", end: "17:00" })));
    }
    renderExceptions([]);
  }
}

$("#add-hours").addEventListener("click", () => {
  const row = hoursRow();
  $("#hours .empty")?.remove();
  $("#hours").append(row);
  row.querySelector("select").focus();
});

$("#hours-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const hoursStatus = $("#hours-status");
  fieldError($("#time-zone"), "");
  const rows = [...document.querySelectorAll("#hours .hours-row")];
  const invalid = rows.flatMap((row) => [...row.querySelectorAll("input")]).find((input) => !input.checkValidity());
  if (invalid) {
    invalid.focus();
    return say(hoursStatus, "Write times as HH:MM, e.g. 09:00 or 17:30.", "error");
  }
  const body = {
    time_zone: $("#time-zone").value.trim(),
    weekly_hours: rows.map((row) => ({
      weekday: row.querySelector("select").value,
      start: row.querySelector("[name=start]").value.trim(),
      end: row.querySelector("[name=end]").value.trim(),
    })),
    slot_minutes: Number($("#slot-minutes").value),
    step_minutes: Number($("#step-minutes").value),
  };
  $("#save-hours").disabled = true;
  try {
    await api("/v1/availability", { method: "PUT", body });
    say(hoursStatus, "Weekly hours saved.", "ok");
    await load();
  } catch (error) {
    const problems = error.body?.problems || [];
    const zone = problems.find((p) => p.field.endsWith("time_zone"));
    if (zone) fieldError($("#time-zone"), zone.message.replace(/^Value error, /, ""));
    say(hoursStatus, zone ? "Check the time zone." : error.message, "error");
  } finally {
    $("#save-hours").disabled = false;
  }
});

$("#exception-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const exceptionStatus = $("#exception-status");
  const value = (id) => $(id).value.trim() || undefined;
  const body = {
    kind: form.elements.kind.value,
    first_day: value("#exception-first"),
    last_day: value("#exception-last"),
    start: value("#exception-start"),
    end: value("#exception-end"),
  };
  if (!body.first_day) return say(exceptionStatus, "Choose the first day.", "error");
  $("#add-exception").disabled = true;
  try {
    await api("/v1/availability/exceptions", { method: "POST", body });
    say(exceptionStatus, "Exception added.", "ok");
    for (const id of ["#exception-first", "#exception-last", "#exception-start", "#exception-end"]) $(id).value = "";
    await load();
  } catch (error) {
    say(exceptionStatus, error.message.replace(/Value error, /g, ""), "error");
  } finally {
    $("#add-exception").disabled = false;
  }
});

const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
$("#time-zones").replaceChildren(...zones.map((zone) => h("option", { value: zone })));
load().catch((error) => say(status, error.message, "error"));
