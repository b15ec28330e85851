// One ticket: what was found and the signals around it, then assign, change state, note.
import * as api from "./api.js";
import { lineChart } from "./chart.js";
import { badge, field, fmtNumber, fmtTime, h, label, option, paintSla, slaCell } from "./dom.js";

// Evidence keys that are moments worth a line on the chart, with the line's label.
const MOMENTS = { from: "held from", to: "finding", reported_at: "DTC reported", episode_start: "episode start", at: "finding" };
// What each move needs besides the button, as maintenance.tickets.lifecycle checks it.
const NEEDS = { scheduled: "visit", resolved: "resolution", cancelled: "note" };
const VERBS = {
  scheduled: "Schedule visit",
  in_progress: "Start work",
  waiting_parts: "Wait for parts",
  resolved: "Resolve",
  closed: "Close",
  cancelled: "Cancel ticket",
};

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function show(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return fmtNumber(value, 3);
  if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) return fmtTime(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// What a dispatcher reads first in a finding's evidence; other keys follow alphabetically.
const FIRST = ["description", "signal", "observed", "expected", "value", "threshold", "op", "spn", "fmi", "from", "to", "at"];
const rank = (k) => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);

function evidenceCard(ticket) {
  const all = ticket.evidence;
  const ordered = (e) => Object.entries(e).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  const card = h("section", { class: "card", "aria-labelledby": "evidence-h", id: "evidence" }, h("h2", { id: "evidence-h" }, "Evidence"));
  if (!all.length) {
    card.append(h("p", { class: "muted" }, "This ticket carries no evidence (opened by hand)."));
    return card;
  }
  // The latest occurrence in full; a ticket seen many times lists every occurrence in a table.
  const latest = all.at(-1);
  if (all.length > 1) card.append(h("h3", {}, `Latest of ${all.length} occurrences`));
  card.append(facts(ordered(latest).map(([k, v]) => [k.replaceAll("_", " "), show(v)])));
  if (all.length > 1) {
    const keys = [...new Set(all.flatMap((e) => Object.keys(e)))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    card.append(
      h(
        "details",
        {},
        h("summary", {}, `All ${all.length} occurrences`),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { id: "occurrences" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num" }, "#"), keys.map((k) => h("th", { scope: "col" }, k.replaceAll("_", " "))))),
            h("tbody", {}, all.map((e, i) => h("tr", {}, h("td", { class: "num" }, String(i + 1)), keys.map((k) => h("td", {}, show(e[k])))))),
          ),
        ),
      ),
    );
  }
  return card;
}

function chartsCard(ticket) {
  const tel = ticket.telemetry;
  const markers = [{ t: ticket.opened_at, label: "opened" }];
  // The latest occurrence's moments only: a ticket seen twenty times would draw a fence.
  for (const e of ticket.evidence.slice(-1)) {
    for (const [k, name] of Object.entries(MOMENTS)) {
      if (typeof e[k] === "string" && !markers.some((m) => Math.abs(Date.parse(m.t) - Date.parse(e[k])) < 60000)) {
        markers.push({ t: e[k], label: name });
      }
    }
  }
  const levelOf = (signal) => {
    const e = ticket.evidence.find((x) => x.signal === signal);
    const v = e ? (e.threshold ?? e.value ?? null) : null;
    return typeof v === "number" ? v : null;
  };
  const charts = tel.series.map((series) =>
    lineChart({ series, start: tel.start, end: tel.end, markers, threshold: levelOf(series.signal) }),
  );
  return h(
    "section",
    { class: "card", "aria-labelledby": "signals-h", id: "signals", "data-start": tel.start, "data-end": tel.end },
    h("h2", { id: "signals-h" }, "Signals around the finding"),
    h("p", { class: "muted" }, `${fmtTime(tel.start)} to ${fmtTime(tel.end)}, ${tel.bucket_s / 60}-minute buckets: mean line, min–max band.`),
    charts.length ? charts : h("p", { class: "muted" }, "No signal is tied to this finding."),
  );
}

function machineCard(ticket) {
  const m = ticket.machine;
  return h(
    "section",
    { class: "card", "aria-labelledby": "machine-h" },
    h("h2", { id: "machine-h" }, "Machine"),
    facts([
      ["serial", m.serial],
      ["model", `${m.model} (${m.kind})`],
      ["customer", h("a", { href: `#/customers/${ticket.owner_id}` }, ticket.owner)],
      ["dealer", ticket.dealer],
      ["online", m.online === null ? "unknown" : m.online ? "yes" : "no"],
      ["last seen", fmtTime(m.last_seen)],
      ["engine hours", fmtNumber(m.engine_hours)],
      ["position", m.lat === null ? "—" : `${m.lat.toFixed(4)}, ${m.lon.toFixed(4)}`],
      ["active faults", m.active_faults.length ? m.active_faults.map((f) => `SPN ${f.spn} FMI ${f.fmi}`).join(", ") : "none"],
    ]),
  );
}

async function assignCard(ticket, apply) {
  const techs = await api.call("/v1/dispatch/technicians", { params: { dealer: ticket.dealer, active: true, limit: 100 } });
  const current = ticket.assigned_technician;
  const select = h(
    "select",
    { id: "technician", name: "technician" },
    option("", "Choose a technician", !current),
    techs.items.map((t) =>
      option(String(t.id), `${t.name} — ${t.load} live · ${t.skills.join(", ") || "no skills listed"}`, current && current.id === t.id),
    ),
  );
  const finished = ticket.transitions.length === 0 || ["resolved", "closed", "cancelled"].includes(ticket.status);
  const form = h(
    "form",
    { id: "assign" },
    h("p", {}, "Assigned: ", h("strong", { id: "assigned" }, current ? current.name : "nobody")),
    h("div", { class: "row" }, field("Technician", select), h("button", { type: "submit", disabled: finished || undefined }, "Assign")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!select.value) return select.focus();
    apply(`/assign`, { technician_id: Number(select.value) }, `Assigned to ${select.selectedOptions[0].text.split(" — ")[0]}`);
  });
  return h("section", { class: "card", "aria-labelledby": "assign-h" }, h("h2", { id: "assign-h" }, "Technician"), form);
}

function stateCard(ticket, apply) {
  const note = h("textarea", { name: "note", rows: 2 });
  const visit = h("input", { type: "datetime-local", name: "visit" });
  const resolution = h("textarea", { name: "resolution", rows: 2 });
  const labour = h("input", { type: "number", name: "labour_h", min: 0, step: 0.25, value: 0, style: "width:7rem" });
  const error = h("p", { class: "error", role: "alert" });
  const inputs = { note, visit, resolution };
  const move = (to) => {
    error.textContent = "";
    const need = NEEDS[to];
    if (need && !inputs[need].value.trim()) {
      error.textContent = `${VERBS[to]} needs the ${need === "note" ? "reason (note)" : need} filled in.`;
      inputs[need].focus();
      return;
    }
    const body = { to };
    if (note.value.trim()) body.note = note.value.trim();
    if (to === "scheduled") body.scheduled_for = new Date(visit.value).toISOString();
    if (to === "resolved") {
      body.resolution = resolution.value.trim();
      body.labour_h = Number(labour.value) || 0;
    }
    apply("/transition", body, `Moved to ${label(to)}`);
  };
  const buttons = ticket.transitions.map((to) =>
    h("button", { type: "button", class: to === "cancelled" ? "danger" : "", "data-to": to, onclick: () => move(to) }, VERBS[to] || label(to)),
  );
  return h(
    "section",
    { class: "card", "aria-labelledby": "state-h" },
    h("h2", { id: "state-h" }, "State: ", label(ticket.status)),
    ticket.transitions.length
      ? h(
          "form",
          { id: "transition", onsubmit: (e) => e.preventDefault() },
          field("Note (the reason when cancelling)", note),
          h("div", { class: "row" }, field("Visit (when scheduling)", visit), field("Labour hours (resolving)", labour)),
          field("Resolution (when resolving)", resolution),
          h("div", { class: "actions", role: "group", "aria-label": "Move the ticket" }, buttons),
          error,
        )
      : h("p", { class: "muted" }, "This ticket is final."),
  );
}

function notesCard(ticket, apply) {
  const text = h("textarea", { name: "text", rows: 2, required: true });
  const form = h("form", { id: "note" }, field("New note", text), h("button", { type: "submit", class: "secondary" }, "Add note"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (text.value.trim()) apply("/notes", { text: text.value.trim() }, "Note added");
  });
  const events = h(
    "ol",
    { class: "events" },
    [...ticket.events].reverse().map((e) =>
      h(
        "li",
        {},
        h("strong", {}, e.kind.replaceAll("_", " ")),
        " · ",
        fmtTime(e.at),
        " · ",
        h("span", { class: "muted" }, e.actor),
        Object.keys(e.detail).length ? h("div", {}, Object.entries(e.detail).map(([k, v]) => `${k}: ${show(v)}`).join(" · ")) : null,
      ),
    ),
  );
  return h("section", { class: "card", "aria-labelledby": "history-h" }, h("h2", { id: "history-h" }, "History"), form, events);
}

function partsCard(ticket) {
  if (!ticket.parts.length) return null;
  return h(
    "section",
    { class: "card", "aria-labelledby": "parts-h" },
    h("h2", { id: "parts-h" }, "Parts"),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["Part", "Description", "Qty", "Status"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ticket.parts.map((p) => h("tr", {}, h("td", {}, p.part_no), h("td", {}, p.description), h("td", { class: "num" }, p.qty), h("td", {}, p.status)))),
    ),
  );
}

// Where a finding's own time is, per evidence entry, readings' time before the rules' clock.
const FINDING_TIME = [(e) => e.to, (e) => e.window?.to, (e) => e.reported_at, (e) => e.last_seen, (e) => e.at];
// The chart shows the run-up to the finding and this much after it.
const AFTER_FINDING_MS = 3600 * 1000;

/** The latest finding's time in the evidence, or null. */
export function findingTime(evidence) {
  let latest = null;
  for (const e of evidence) {
    const t = FINDING_TIME.map((f) => Date.parse(f(e) ?? "")).find((v) => Number.isFinite(v));
    if (t !== undefined && (latest === null || t > latest)) latest = t;
  }
  return latest;
}

export async function ticketView({ main, announce }, id) {
  const path = `/v1/dispatch/tickets/${id}`;
  let timer = null;
  let telemetryEnd; // chosen once from the evidence, kept across the changes below

  async function fetchTicket() {
    let ticket = await api.call(path, { params: { telemetry_end: telemetryEnd } });
    if (telemetryEnd === undefined) {
      // The window ends at the newest reading unless the finding is older than that.
      const found = findingTime(ticket.evidence);
      const end = found === null ? null : found + AFTER_FINDING_MS;
      telemetryEnd = end !== null && end < Date.parse(ticket.telemetry.end) ? new Date(end).toISOString() : null;
      if (telemetryEnd) ticket = await api.call(path, { params: { telemetry_end: telemetryEnd } });
    }
    return ticket;
  }

  async function draw(ticket) {
    const apply = async (tail, body, said) => {
      try {
        await api.call(path + tail, { method: "POST", body });
        announce(said);
        await draw(await fetchTicket());
        main.querySelector("h1").focus();
      } catch (e) {
        announce(`Not done: ${e.message}`);
        const alert = main.querySelector("#action-error");
        if (alert) alert.textContent = e.message;
      }
    };
    const sla = slaCell(ticket);
    clearInterval(timer);
    timer = setInterval(() => paintSla(sla, ticket), 1000);
    main.replaceChildren(
      h("p", {}, h("a", { href: "#/queue" }, "← Queue")),
      h("h1", { tabindex: "-1" }, `#${ticket.id} ${ticket.title}`),
      h("p", { class: "row" }, badge("p", ticket.priority), h("span", { id: "status" }, label(ticket.status)), "SLA: ", sla, h("span", { class: "muted" }, `${ticket.rule_key} · opened ${fmtTime(ticket.opened_at)} · seen ${ticket.occurrences}×`)),
      h("p", { id: "action-error", class: "error", role: "alert" }),
      h(
        "div",
        { class: "ticket-layout" },
        h("div", { class: "stack" }, evidenceCard(ticket), chartsCard(ticket), machineCard(ticket)),
        h("div", { class: "stack" }, await assignCard(ticket, apply), stateCard(ticket, apply), partsCard(ticket), notesCard(ticket, apply)),
      ),
    );
  }

  await draw(await fetchTicket());
  return () => clearInterval(timer);
}
