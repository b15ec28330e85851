// The dispatcher's key and the calls that carry it. The key lives in sessionStorage: it survives
// a reload of the tab but not the tab itself, and is never written anywhere else.

const KEY = "ironlink.dispatcher-key";

export function key() {
  return sessionStorage.getItem(KEY);
}

export function signIn(value) {
  sessionStorage.setItem(KEY, value);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** A problem-details answer (RFC 9457) from the API. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Calls the API at `path` (absolute, e.g. /v1/dispatch/tickets) with the signed-in key.
 *  `params` values that are arrays repeat their name, as the API's list filters expect. */
export async function call(path, { method = "GET", params, body, withKey } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.append(name, String(v));
    }
  }
  const headers = { Accept: "application/json", Authorization: `Bearer ${withKey ?? key() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      // not JSON: the status alone says it
    }
    const error = new ApiError(response.status, problem);
    if (response.status === 401 && withKey === undefined) {
      // The key was revoked or expired mid-session: back to sign in.
      signOut();
      location.hash = "#/signin";
    }
    throw error;
  }
  return response.json();
}
