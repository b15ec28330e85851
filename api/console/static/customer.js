// The customer view: who they are, their grade, spend and satisfaction, machines and history.
import * as api from "./api.js";
import { badge, fmtNumber, fmtTime, h, label } from "./dom.js";

const money = (v) => Number(v).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

function table(id, caption, columns, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id },
      h("caption", { class: "muted", style: "text-align:left;padding:0.4rem 0.6rem" }, caption),
      h("thead", {}, h("tr", {}, columns.map(([name, cls]) => h("th", { scope: "col", class: cls }, name)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "None."))),
    ),
  );
}

function gradeCard(c) {
  const g = c.grade;
  return h(
    "section",
    { class: "card", "aria-labelledby": "grade-h" },
    h("h2", { id: "grade-h" }, "Grade"),
    g
      ? [
          h("p", {}, h("span", { class: "grade", id: "grade" }, g.grade), " ", h("span", { class: "muted" }, `graded ${fmtTime(g.graded_at)}`)),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "current value"),
            h("dd", {}, fmtNumber(g.current, 2)),
            h("dt", {}, "future value"),
            h("dd", {}, fmtNumber(g.future, 2)),
            Object.entries(g.scores).flatMap(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, fmtNumber(v, 2))]),
          ),
        ]
      : h("p", { class: "muted" }, "Not graded yet (grading runs daily)."),
    h(
      "dl",
      { class: "facts", style: "margin-top:0.8rem" },
      h("dt", {}, "spend, 12 months"),
      h("dd", {}, `${money(c.spend_12m.total)} (parts ${money(c.spend_12m.parts)}, labour ${money(c.spend_12m.labour)}; ${c.spend_12m.records} records)`),
      h("dt", {}, "satisfaction"),
      h("dd", {}, c.satisfaction === null ? "no ratings" : `${fmtNumber(c.satisfaction, 1)} / 5 from ${c.ratings} ratings`),
    ),
  );
}

export async function customerView({ main }, id) {
  const c = await api.call(`/v1/dispatch/customers/${id}`);
  const o = c.owner;
  main.append(
    h("p", {}, h("a", { href: "#/queue" }, "← Queue")),
    h("h1", { tabindex: "-1" }, o.name),
    h(
      "div",
      { class: "grid" },
      h(
        "section",
        { class: "card", "aria-labelledby": "owner-h" },
        h("h2", { id: "owner-h" }, "Customer"),
        h(
          "dl",
          { class: "facts" },
          [
            ["code", o.code],
            ["kind", o.kind],
            ["region", o.region],
            ["dealer", o.dealer ?? "—"],
            ["customer since", o.customer_since ?? "—"],
            ["e-mail", o.email ?? "—"],
            ["phone", o.phone ?? "—"],
          ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
        ),
        c.contacts.length
          ? h(
              "ul",
              {},
              c.contacts.map((p) => h("li", {}, `${p.name} (${p.role})${p.preferred ? " — preferred" : ""}: ${p.phone ?? ""} ${p.email ?? ""}`)),
            )
          : null,
      ),
      gradeCard(c),
    ),
    h("h2", { style: "margin-top:1rem" }, "Open tickets"),
    table(
      "customer-tickets",
      "Unfinished tickets",
      [["Ticket"], ["Machine"], ["Problem"], ["Priority"], ["Status"], ["Due"]],
      c.open_tickets.map((t) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/tickets/${t.id}` }, `#${t.id}`)),
          h("td", {}, t.serial),
          h("td", {}, t.title),
          h("td", {}, badge("p", t.priority)),
          h("td", {}, label(t.status)),
          h("td", { class: t.overdue ? "sla overdue" : "sla" }, `${fmtTime(t.sla_due_at)}${t.overdue ? " (overdue)" : ""}`),
        ),
      ),
    ),
    h("h2", { style: "margin-top:1rem" }, "Machines"),
    table(
      "customer-machines",
      "Machines serviced in this key's scope",
      [["Serial"], ["Model"], ["Year", "num"], ["Engine h", "num"], ["Warranty"], ["Last seen"], ["Last service"]],
      c.machines.map((m) =>
        h(
          "tr",
          {},
          h("td", {}, m.serial),
          h("td", {}, `${m.model} (${m.kind})`),
          h("td", { class: "num" }, m.year ?? "—"),
          h("td", { class: "num" }, fmtNumber(m.engine_hours)),
          h("td", {}, m.warranty),
          h("td", {}, fmtTime(m.last_seen)),
          h("td", {}, fmtTime(m.last_service_at)),
        ),
      ),
    ),
    h("h2", { style: "margin-top:1rem" }, "Service history"),
    table(
      "customer-history",
      "Newest first",
      [["Done"], ["Machine"], ["Work"], ["Technician"], ["Engine h", "num"], ["Labour", "num"], ["Parts", "num"], ["Notes"]],
      c.service_history.map((s) =>
        h(
          "tr",
          {},
          h("td", {}, fmtTime(s.done_at)),
          h("td", {}, s.serial),
          h("td", {}, `${s.kind} ${s.rule_key}`),
          h("td", {}, s.technician ?? "—"),
          h("td", { class: "num" }, fmtNumber(s.engine_hours)),
          h("td", { class: "num" }, money(s.labour_cost)),
          h("td", { class: "num" }, money(s.parts_cost)),
          h("td", {}, s.notes),
        ),
      ),
    ),
  );
}
