// Small DOM helpers shared by the pages (no inline handlers or styles: the CSP forbids them).

import { JOIN_WINDOW } from "./protocol.js";

/** Builds an element: h("li", {class: "x", dataset: {id}}, "text", child). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "on") for (const [event, fn] of Object.entries(value)) element.addEventListener(event, fn);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Shows a message in a status element (role=status/alert is in the markup). */
export function say(element, message, kind = "") {
  element.textContent = message;
  element.className = `status ${kind}`.trim();
  element.hidden = !message;
}

export function timeOf(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function dayOf(iso) {
  return new Date(iso).toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
}

export function sinceText(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
  return minutes < 1 ? "just now" : `${minutes} min`;
}

export function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** The join window signaling enforces (by default): from before the start to after the end. */
export function joinable(appointment, now = Date.now()) {
  const opens = new Date(appointment.starts_at).getTime() - JOIN_WINDOW.opensMinutesBefore * 60000;
  const closes = new Date(appointment.ends_at).getTime() + JOIN_WINDOW.closesMinutesAfter * 60000;
  return now >= opens && now <= closes && !["cancelled", "noshow", "fulfilled", "entered-in-error"].includes(appointment.status);
}

/** Shows (or clears, with "") a message under a form field: the element `#<field id>-error`,
 * which the field names in its aria-describedby. */
export function fieldError(input, message) {
  const box = document.getElementById(`${input.id}-error`);
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  if (box) {
    box.textContent = message;
    box.hidden = !message;
  }
}

/** Where an API error points: {field: message} from 422 problems ("body.password") or from a
 * detail written as "password: …"; `fallback` holds what names no known field. */
export function errorsByField(error, fields) {
  const found = {};
  for (const problem of error?.body?.problems || []) {
    const name = problem.field.split(".").find((part) => fields.includes(part));
    if (name) found[name] = problem.message.replace(/^Value error, /, "");
  }
  const detail = error?.message || "";
  const match = /^([a-z_]+): (.*)$/s.exec(detail);
  if (!Object.keys(found).length && match && fields.includes(match[1])) found[match[1]] = match[2];
  for (const [name, message] of Object.entries(found)) found[name] = sentence(name, message);
  if (!Object.keys(found).length) found.fallback = detail || "Something went wrong. Try again.";
  return found;
}

const SUBJECTS = { password: "This password", new_password: "This password", current_password: "The password", display_name: "The name", time_zone: "The time zone", email: "The email address" };

/** A server's "must be 8 to 128 characters long" as a sentence about the field. */
function sentence(field, message) {
  if (/^(is|must|should|was) /.test(message) && SUBJECTS[field]) return `${SUBJECTS[field]} ${message}.`.replace(/\.\.$/, ".");
  return message.charAt(0).toUpperCase() + message.slice(1);
}

/** Copies text to the clipboard; answers whether it worked (the caller says so). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
