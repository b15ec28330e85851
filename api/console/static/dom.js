// Element building and formatting shared by the views. Text always goes in as text nodes, never
// as HTML, so a ticket title or a note cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "text") {
      el.textContent = String(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("a", {href: "#/queue"}, "Queue") -> <a href="#/queue">Queue</a> */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

let fieldIds = 0;
/** A labelled control: label and input tied by id, so screen readers name the input. */
export function field(labelText, control, hint) {
  const id = control.id || `f${++fieldIds}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, labelText), control, hint);
}

export function option(value, text, selected) {
  return h("option", { value, selected: selected ? true : undefined }, text);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function fmtTime(iso) {
  return iso ? dateTime.format(new Date(iso)) : "—";
}

export function fmtClock(date) {
  return timeOnly.format(date);
}

export function fmtNumber(value, digits = 1) {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  return Number.isFinite(n) ? n.toLocaleString(undefined, { maximumFractionDigits: digits }) : String(value);
}

/** 3725 -> "1 h 02 m"; 200000 -> "2 d 7 h"; 40 -> "40 s" */
export function fmtDuration(seconds) {
  const s = Math.abs(Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${String(m % 60).padStart(2, "0")} m`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const FINISHED = new Set(["resolved", "closed", "cancelled"]);

/** Seconds to the SLA deadline: counted down live for an unfinished ticket, frozen at its finish
 *  for a finished one (the server's remaining_s). */
export function slaSeconds(ticket, now = Date.now()) {
  if (FINISHED.has(ticket.status)) return ticket.sla.remaining_s;
  return (Date.parse(ticket.sla.due_at) - now) / 1000;
}

// Under a quarter of the SLA window left counts as near, like the scheduler's sla_near event.
const NEAR_FRACTION = 0.25;

export function slaCell(ticket) {
  const el = h("span", { class: "sla", "data-ticket": ticket.id });
  paintSla(el, ticket);
  return el;
}

export function paintSla(el, ticket, now = Date.now()) {
  const left = slaSeconds(ticket, now);
  const window = (Date.parse(ticket.sla.due_at) - Date.parse(ticket.opened_at)) / 1000;
  const finished = FINISHED.has(ticket.status);
  el.classList.toggle("overdue", left < 0);
  el.classList.toggle("near", left >= 0 && !finished && left < NEAR_FRACTION * window);
  if (finished) {
    el.textContent = left < 0 ? `missed by ${fmtDuration(left)}` : `met, ${fmtDuration(left)} spare`;
  } else {
    el.textContent = left < 0 ? `overdue ${fmtDuration(left)}` : `${fmtDuration(left)} left`;
  }
  el.title = `due ${fmtTime(ticket.sla.due_at)}`;
}

export function badge(kind, value) {
  return h("span", { class: `badge ${kind}-${value}` }, String(value).replace("_", " "));
}

export function label(status) {
  return String(status).replace("_", " ");
}
