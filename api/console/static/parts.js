// Parts forecast per dealer: what the next HORIZON_DAYS of due services and open findings will
// take from stock, where the API offers it; a plain "not available" where it does not.
import * as api from "./api.js";
import { field, fmtNumber, fmtTime, h, option } from "./dom.js";
import { dealerCodes } from "./queue.js";

const HORIZON_DAYS = 30;
// Columns shown when the answer has them, in this order; any other field is left out.
const COLUMNS = [
  ["part_no", "Part", ""],
  ["description", "Description", ""],
  ["on_hand", "On hand", "num"],
  ["available", "Available", "num"],
  ["expected_demand_mean", "Expected demand", "num"],
  ["expected_demand_upper", "At service level", "num"],
  ["days_of_cover", "Days of cover", "num"],
  ["reorder_qty", "Reorder now", "num"],
];

function cell(value) {
  return typeof value === "number" || (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value)) ? fmtNumber(value) : value ?? "—";
}

function forecastTable(body) {
  const lines = body.lines ?? body.items ?? [];
  const about = h(
    "p",
    { class: "muted", id: "forecast-about" },
    [
      body.machines !== undefined ? `${body.machines} active machines` : null,
      body.computed_at ? `forecast ${fmtTime(body.computed_at)}${body.from_snapshot ? " (daily job)" : ""}` : null,
      body.lead_time_days !== undefined ? `lead time ${body.lead_time_days} d, review every ${body.review_days} d` : null,
      body.service_level !== undefined ? `service level ${Math.round(body.service_level * 100)} %` : null,
    ]
      .filter(Boolean)
      .join(" · "),
  );
  if (!lines.length) return h("div", {}, about, h("p", { class: "notice", id: "forecast-empty" }, "No demand expected in the horizon."));
  const columns = COLUMNS.filter(([key]) => key in lines[0]);
  return h(
    "div",
    {},
    about,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "forecast" },
        h("thead", {}, h("tr", {}, columns.map(([, name, cls]) => h("th", { scope: "col", class: cls }, name)))),
        h(
          "tbody",
          {},
          // A part to reorder now stands out.
          lines.map((line) => h("tr", { class: line.reorder_qty > 0 ? "reorder" : undefined }, columns.map(([key, , cls]) => h("td", { class: cls }, cell(line[key]))))),
        ),
      ),
    ),
  );
}

export async function partsView({ main, announce }) {
  const dealers = await dealerCodes().catch(() => []);
  const dealer = h("select", { id: "forecast-dealer" }, dealers.map((d, i) => option(d, d, i === 0)));
  const out = h("div", { id: "forecast-out", "aria-live": "polite" });
  main.append(
    h("h1", { tabindex: "-1" }, "Parts forecast"),
    h(
      "form",
      { class: "row card", onsubmit: (e) => e.preventDefault() },
      field("Dealer", dealer),
      h("p", { class: "muted" }, `Demand over the next ${HORIZON_DAYS} days.`),
    ),
    out,
  );

  async function load() {
    if (!dealer.value) {
      out.replaceChildren(h("p", { class: "notice" }, "No dealer in this key's scope has technicians."));
      return;
    }
    out.replaceChildren(h("p", { class: "muted", id: "forecast-loading" }, "Loading…"));
    try {
      const body = await api.call(`/v1/dispatch/dealers/${encodeURIComponent(dealer.value)}/parts-forecast`, {
        params: { horizon_days: HORIZON_DAYS },
      });
      out.replaceChildren(forecastTable(body));
      announce(`Parts forecast for ${dealer.value} loaded`);
    } catch (e) {
      if (e.status === 404) {
        out.replaceChildren(
          h("p", { class: "notice", id: "forecast-unavailable" }, `The parts forecast is not available for ${dealer.value} on this server.`),
        );
      } else {
        out.replaceChildren(h("p", { class: "error", role: "alert" }, `Could not load the forecast: ${e.message}`));
      }
    }
  }
  dealer.addEventListener("change", load);
  await load();
}
