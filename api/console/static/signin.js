// Sign in with a dispatcher key: checked against the API before it is kept.
import * as api from "./api.js";
import { field, h } from "./dom.js";

export function signInView({ main, announce, go }) {
  const input = h("input", {
    id: "key",
    name: "key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    size: 48,
  });
  const error = h("p", { id: "sign-in-error", class: "error", role: "alert" });
  input.setAttribute("aria-describedby", "sign-in-error");
  const form = h(
    "form",
    { class: "card", id: "sign-in" },
    field("Dispatcher key", input, h("p", { class: "muted" }, "The key is kept for this tab only.")),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    error.textContent = "";
    try {
      // Any dispatcher route would do; fleet health is small.
      await api.call("/v1/dispatch/fleet/health", { withKey: value });
    } catch (e) {
      error.textContent =
        e.status === 401
          ? "That key was not accepted."
          : e.status === 403
            ? "That key is not a dispatcher key."
            : `Could not sign in: ${e.message}`;
      input.focus();
      return;
    }
    api.signIn(value);
    announce("Signed in");
    go(location.hash && location.hash !== "#/signin" ? location.hash : "#/queue");
  });
  main.append(h("h1", { tabindex: "-1" }, "Sign in"), form);
  input.focus();
}
