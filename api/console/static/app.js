// The console's router: #/<screen>/<id>. Each view renders into <main> and may return a cleanup
// function (timers), called before the next view renders.
import * as api from "./api.js";
import { customerView } from "./customer.js";
import { h } from "./dom.js";
import { fleetView } from "./fleet.js";
import { partsView } from "./parts.js";
import { queueView } from "./queue.js";
import { signInView } from "./signin.js";
import { ticketView } from "./ticket.js";

const ROUTES = [
  [/^#\/queue$/, "queue", () => queueView],
  [/^#\/tickets\/(\d+)$/, "queue", (m) => (ctx) => ticketView(ctx, Number(m[1]))],
  [/^#\/customers\/(\d+)$/, "queue", (m) => (ctx) => customerView(ctx, Number(m[1]))],
  [/^#\/map$/, "map", () => fleetView],
  [/^#\/parts$/, "parts", () => partsView],
];

const main = document.getElementById("view");
const live = document.getElementById("live");
const nav = document.getElementById("nav");
let cleanup = null;
let renders = 0;

/** Said politely to screen readers and shown under the header. */
export function announce(text) {
  live.textContent = text;
}

/** Shows `hash`, rendering again when it is already the current one. */
function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const token = ++renders;
  const hash = location.hash || "#/queue";
  const signedIn = Boolean(api.key());
  // Each render draws into its own root: a slow view that finishes after the user moved on
  // appends to a detached element instead of the new screen.
  const root = h("div");
  main.replaceChildren(root);
  const ctx = { main: root, announce, go };
  announce(""); // the last screen's news is not this one's
  if (!signedIn || hash === "#/signin") {
    if (signedIn) api.signOut();
    nav.hidden = true;
    signInView(ctx);
    return;
  }
  nav.hidden = false;
  let view = null;
  let section = null;
  for (const [pattern, name, make] of ROUTES) {
    const m = hash.match(pattern);
    if (m) {
      view = make(m);
      section = name;
      break;
    }
  }
  for (const a of nav.querySelectorAll("a[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!view) {
    root.append(h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, h("a", { href: "#/queue" }, "Back to the queue")));
    return;
  }
  let done = null;
  try {
    done = (await view(ctx)) || null;
  } catch (error) {
    root.replaceChildren(
      h("h1", { tabindex: "-1" }, "Something went wrong"),
      h("p", { class: "error", role: "alert" }, error.message || String(error)),
    );
  }
  if (token !== renders) {
    if (done) done(); // the user moved on while this view loaded
    return;
  }
  cleanup = done;
  // Move focus to the new screen's heading so keyboard and screen-reader users start there.
  const heading = main.querySelector("h1");
  if (heading) heading.focus({ preventScroll: true });
}

document.getElementById("sign-out").addEventListener("click", () => {
  api.signOut();
  announce("Signed out");
  location.hash = "#/signin";
});
window.addEventListener("hashchange", render);
render();
