// The ticket queue: filters, SLA countdown ticking every second, and the list and fleet counts
// fetched again every REFRESH_MS.
import * as api from "./api.js";
import { badge, field, fmtClock, h, label, option, paintSla, slaCell } from "./dom.js";

// Often enough that a new critical ticket shows within a phone call's time, seldom enough to
// stay far inside a key's rate limit (two requests a refresh).
const REFRESH_MS = 15000;
const PAGE = 100;
const STATUSES = ["open", "scheduled", "in_progress", "waiting_parts", "resolved", "closed", "cancelled"];
const PRIORITIES = ["critical", "high", "normal", "low"];

// Filters outlive a visit to a ticket, so the dispatcher comes back to the same queue.
const filters = { status: "live", priority: "", dealer: "", sort: "sla" };

/** Dealer codes the key can see, from the technicians' list (there is no dealer list route). */
export async function dealerCodes() {
  const page = await api.call("/v1/dispatch/technicians", { params: { limit: 100 } });
  return [...new Set(page.items.map((t) => t.dealer))].sort();
}

function queryOf(f, after) {
  return {
    live: f.status === "live" ? "true" : undefined,
    status: f.status !== "live" && f.status !== "all" ? f.status : undefined,
    priority: f.priority || undefined,
    dealer: f.dealer || undefined,
    sort: f.sort,
    limit: PAGE,
    after,
  };
}

function row(t) {
  return h(
    "tr",
    { "data-ticket": t.id },
    h("td", { class: "num" }, h("a", { href: `#/tickets/${t.id}`, "aria-label": `Ticket ${t.id}: ${t.title}` }, `#${t.id}`)),
    h("td", {}, h("a", { href: `#/tickets/${t.id}`, tabindex: "-1" }, t.title), h("div", { class: "muted" }, t.rule_key)),
    h("td", {}, t.serial),
    h("td", {}, badge("p", t.priority)),
    h("td", {}, label(t.status)),
    h("td", {}, slaCell(t)),
    h("td", { class: "hide-narrow" }, t.assigned_technician ? t.assigned_technician.name : h("span", { class: "muted" }, "unassigned")),
    h("td", { class: "hide-narrow" }, h("a", { href: `#/customers/${t.owner_id}` }, t.owner), h("div", { class: "muted" }, t.dealer)),
  );
}

function countsList(health) {
  const t = health.tickets;
  const m = health.machines;
  const item = (n, text) => h("li", {}, h("b", {}, String(n)), text);
  return h(
    "ul",
    { class: "counts", "aria-label": "At a glance" },
    item(t.open, "open tickets"),
    item(t.sla_breached, "past SLA"),
    item(t.sla_near, "due within 2 h"),
    item(t.unassigned, "unassigned"),
    item(m.online, `of ${m.total} machines online`),
    item(m.red, "red stop lamp"),
  );
}

export async function queueView({ main, announce }) {
  const select = (name, choices) => {
    const el = h("select", { name }, choices.map(([v, text]) => option(v, text, filters[name] === v)));
    el.addEventListener("change", () => {
      filters[name] = el.value;
      refresh(true);
    });
    return el;
  };
  const dealers = await dealerCodes().catch(() => []);
  const form = h(
    "form",
    { class: "row card", "aria-label": "Filters", onsubmit: (e) => e.preventDefault() },
    field("Status", select("status", [["live", "Unfinished"], ["all", "Any"], ...STATUSES.map((s) => [s, label(s)])])),
    field("Priority", select("priority", [["", "Any"], ...PRIORITIES.map((p) => [p, p])])),
    field("Dealer", select("dealer", [["", "All in scope"], ...dealers.map((d) => [d, d])])),
    field("Sort", select("sort", [["sla", "SLA deadline"], ["priority", "Priority"], ["opened", "Newest"]])),
    h("button", { type: "button", class: "secondary", onclick: () => refresh(true) }, "Refresh now"),
  );
  const counts = h("div");
  const body = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show more");
  const table = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "queue" },
      h("caption", { class: "muted", style: "text-align:left;padding:0.4rem 0.6rem" }, "Tickets, soonest SLA deadline first unless sorted otherwise"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col", class: "num" }, "Ticket"),
          h("th", { scope: "col" }, "Problem"),
          h("th", { scope: "col" }, "Machine"),
          h("th", { scope: "col" }, "Priority"),
          h("th", { scope: "col" }, "Status"),
          h("th", { scope: "col" }, "SLA"),
          h("th", { scope: "col", class: "hide-narrow" }, "Technician"),
          h("th", { scope: "col", class: "hide-narrow" }, "Customer"),
        ),
      ),
      body,
    ),
  );
  main.append(h("h1", { tabindex: "-1" }, "Ticket queue"), counts, form, table, h("p", {}, more));

  let tickets = [];
  let next = null;
  let busy = false;

  async function refresh(reset) {
    if (busy) return;
    busy = true;
    try {
      const [page, health] = await Promise.all([
        api.call("/v1/dispatch/tickets", { params: queryOf(filters) }),
        api.call("/v1/dispatch/fleet/health"),
      ]);
      tickets = page.items;
      next = page.next_after;
      body.replaceChildren(...tickets.map(row));
      if (!tickets.length) {
        body.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No tickets match these filters.")));
      }
      more.hidden = !next;
      counts.replaceChildren(countsList(health));
      announce(`Queue ${reset ? "loaded" : "updated"} at ${fmtClock(new Date())}: ${tickets.length}${next ? "+" : ""} tickets`);
    } catch (e) {
      announce(`Refresh failed at ${fmtClock(new Date())}: ${e.message}`);
    } finally {
      busy = false;
    }
  }

  more.addEventListener("click", async () => {
    const page = await api.call("/v1/dispatch/tickets", { params: queryOf(filters, next) });
    tickets = tickets.concat(page.items);
    next = page.next_after;
    body.append(...page.items.map(row));
    more.hidden = !next;
    announce(`${tickets.length} tickets shown`);
  });

  await refresh(true);
  const poll = setInterval(() => refresh(false), REFRESH_MS);
  const tick = setInterval(() => {
    const now = Date.now();
    const byId = new Map(tickets.map((t) => [String(t.id), t]));
    for (const el of body.querySelectorAll(".sla[data-ticket]")) {
      const t = byId.get(el.dataset.ticket);
      if (t) paintSla(el, t, now);
    }
  }, 1000);
  return () => {
    clearInterval(poll);
    clearInterval(tick);
  };
}
