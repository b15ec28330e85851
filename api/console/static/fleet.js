// Fleet map: machine positions from /fleet/positions on a plain lon/lat grid (no tiles, nothing
// fetched from a map server), coloured by their worst live ticket.
import * as api from "./api.js";
import { fmtTime, h, label, s } from "./dom.js";

const W = 900;
const H = 560;
const PAD = 36;
const STEPS_DEG = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30];
const REFRESH_MS = 15000;

/** An equirectangular projection fitted to the points, x scaled by cos(mid latitude) so shapes
 *  near the fleet keep their proportions. */
export function projection(features) {
  const lons = features.map((f) => f.geometry.coordinates[0]);
  const lats = features.map((f) => f.geometry.coordinates[1]);
  let [west, east, south, north] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  // Room around the fleet; a single machine still gets a map a degree or so wide.
  const span = Math.max(east - west, north - south, 0.5);
  west -= span * 0.1;
  east += span * 0.1;
  south -= span * 0.1;
  north += span * 0.1;
  const k = Math.cos((((north + south) / 2) * Math.PI) / 180);
  const scale = Math.min((W - 2 * PAD) / ((east - west) * k || 1), (H - 2 * PAD) / (north - south || 1));
  const cx = (west + east) / 2;
  const cy = (south + north) / 2;
  return {
    west,
    east,
    south,
    north,
    x: (lon) => W / 2 + (lon - cx) * k * scale,
    y: (lat) => H / 2 - (lat - cy) * scale,
  };
}

function graticule(p) {
  const step = STEPS_DEG.find((v) => Math.max(p.east - p.west, p.north - p.south) / v <= 8) || 30;
  const g = s("g", {});
  const fixed = step < 1 ? String(step).split(".")[1].length : 0;
  for (let lon = Math.ceil(p.west / step) * step; lon <= p.east; lon += step) {
    g.append(
      s("line", { class: "graticule", x1: p.x(lon), x2: p.x(lon), y1: PAD / 2, y2: H - PAD / 2 }),
      s("text", { x: p.x(lon), y: H - 6, "text-anchor": "middle" }, `${Math.abs(lon).toFixed(fixed)}°${lon < 0 ? "W" : "E"}`),
    );
  }
  for (let lat = Math.ceil(p.south / step) * step; lat <= p.north; lat += step) {
    g.append(
      s("line", { class: "graticule", x1: PAD / 2, x2: W - PAD / 2, y1: p.y(lat), y2: p.y(lat) }),
      s("text", { x: 4, y: p.y(lat) - 3 }, `${Math.abs(lat).toFixed(fixed)}°${lat < 0 ? "S" : "N"}`),
    );
  }
  return g;
}

function dotClass(props) {
  return `dot-${props.worst_priority || "none"}${props.online === false ? " offline" : ""}`;
}

function describe(props) {
  const tickets = props.open_tickets ? `${props.open_tickets} live tickets, worst ${props.worst_priority}` : "no live tickets";
  const online = props.online === null ? "status unknown" : props.online ? "online" : "offline";
  return `${props.serial} ${props.model} (${props.kind}), ${online}, ${tickets}, last seen ${fmtTime(props.last_seen)}`;
}

function mapSvg(features) {
  const svg = s(
    "svg",
    { class: "map", id: "fleet-map", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Map of ${features.length} machine positions; the table below lists them` },
    s("rect", { class: "frame", x: 0, y: 0, width: W, height: H }),
  );
  if (!features.length) return svg;
  const p = projection(features);
  svg.append(graticule(p));
  // Worst last, so a critical machine is drawn on top of its healthy neighbours.
  const rank = { critical: 4, high: 3, normal: 2, low: 1 };
  const sorted = [...features].sort((a, b) => (rank[a.properties.worst_priority] || 0) - (rank[b.properties.worst_priority] || 0));
  for (const f of sorted) {
    const [lon, lat] = f.geometry.coordinates;
    svg.append(
      s(
        "circle",
        { cx: p.x(lon).toFixed(1), cy: p.y(lat).toFixed(1), r: f.properties.open_tickets ? 7 : 5, class: dotClass(f.properties), "data-serial": f.properties.serial },
        s("title", {}, describe(f.properties)),
      ),
    );
  }
  return svg;
}

function legend() {
  const item = (cls, text) =>
    h("li", {}, h("span", { "aria-hidden": "true" }, s("svg", { width: 14, height: 14 }, s("circle", { cx: 7, cy: 7, r: 6, class: cls }))), " ", text);
  return h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    item("dot-critical", "critical ticket"),
    item("dot-high", "high"),
    item("dot-normal", "normal"),
    item("dot-low", "low"),
    item("dot-none", "no live ticket"),
    item("dot-none offline", "faded: offline"),
  );
}

export async function fleetView({ main, announce }) {
  const online = h("select", { id: "online" }, h("option", { value: "" }, "All"), h("option", { value: "true" }, "Online"), h("option", { value: "false" }, "Offline"));
  const withTickets = h("input", { type: "checkbox", id: "with-tickets" });
  const holder = h("div", { class: "card" });
  const list = h("tbody");
  main.append(
    h("h1", { tabindex: "-1" }, "Fleet map"),
    h(
      "form",
      { class: "row card", "aria-label": "Map filters", onsubmit: (e) => e.preventDefault() },
      h("div", { class: "field" }, h("label", { for: "online" }, "Machines"), online),
      h("div", { class: "field" }, h("label", { for: "with-tickets" }, withTickets, " only with live tickets")),
    ),
    holder,
    h(
      "details",
      { class: "card" },
      h("summary", {}, "Machines as a table"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Serial", "Model", "Online", "Live tickets", "Position", "Last seen"].map((c) => h("th", { scope: "col" }, c)))), list),
    ),
  );

  async function refresh() {
    try {
      const fc = await api.call("/v1/dispatch/fleet/positions", {
        params: { online: online.value || undefined, with_tickets: withTickets.checked ? "true" : undefined, limit: 5000 },
      });
      holder.replaceChildren(mapSvg(fc.features), legend());
      list.replaceChildren(
        ...fc.features.map((f) => {
          const p = f.properties;
          const [lon, lat] = f.geometry.coordinates;
          return h(
            "tr",
            {},
            h("td", {}, p.serial),
            h("td", {}, `${p.model} (${p.kind})`),
            h("td", {}, p.online === null ? "unknown" : p.online ? "yes" : "no"),
            h("td", {}, p.open_tickets ? `${p.open_tickets} (worst ${label(p.worst_priority)})` : "0"),
            h("td", {}, `${lat.toFixed(4)}, ${lon.toFixed(4)}`),
            h("td", {}, fmtTime(p.last_seen)),
          );
        }),
      );
      announce(`Map updated: ${fc.features.length} machines with a position`);
    } catch (e) {
      announce(`Map refresh failed: ${e.message}`);
    }
  }
  online.addEventListener("change", refresh);
  withTickets.addEventListener("change", refresh);
  await refresh();
  const poll = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(poll);
}
