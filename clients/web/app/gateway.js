// The page's link to the gateway: a short-lived signed token bound to this browser's anonymous
// id (renewed before it runs out, and after it ran out while offline, keeping the same id), and
// fetch with that token. No long-lived secret ever lives in the page.

const SESSION_KEY = "edgeline.session";
const RENEW_WHEN_LEFT = 1 / 3; // renew once two thirds of a token's life have passed

export class GatewayUnreachable extends Error {}

export class GatewaySession {
  constructor(storage = window.localStorage) {
    this.storage = storage;
    this.saved = JSON.parse(storage.getItem(SESSION_KEY) || "null");
    this.renewing = null;
  }

  get browserId() {
    return this.saved?.browser_id ?? null;
  }

  get config() {
    return this.saved?.config ?? null;
  }

  needsRenewal(now = Date.now()) {
    if (!this.saved) return true;
    const life = this.saved.expires_in_s * 1000;
    return now > Date.parse(this.saved.expires_at) - life * RENEW_WHEN_LEFT;
  }

  /** A token to send, renewed first when due; offline, the saved one is used as it is. */
  async token({ force = false } = {}) {
    if (force || this.needsRenewal()) {
      try {
        await this.renew();
      } catch (error) {
        if (!(error instanceof GatewayUnreachable) || !this.saved) throw error;
      }
    }
    return this.saved.token;
  }

  renew() {
    this.renewing ??= this.#requestToken().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  async #requestToken() {
    const send = (token) =>
      fetch("/v1/web/tokens", {
        method: "POST",
        cache: "no-store",
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
    let response;
    try {
      response = await send(this.saved?.token);
      if (response.status === 401 && this.saved) {
        // too old or from another server secret: start again as a new anonymous browser
        response = await send(null);
      }
    } catch (error) {
      throw new GatewayUnreachable(`gateway unreachable: ${error.message || error}`);
    }
    if (!response.ok) throw new Error(`token request failed: HTTP ${response.status}`);
    this.saved = await response.json();
    this.storage.setItem(SESSION_KEY, JSON.stringify(this.saved));
    return this.saved;
  }

  /** fetch with the token; one renewal and retry on 401. Network failures throw GatewayUnreachable. */
  async fetch(path, init = {}) {
    const attempt = async (force) => {
      const token = await this.token({ force });
      const headers = { ...(init.headers || {}), Authorization: `Bearer ${token}` };
      try {
        return await fetch(path, { cache: "no-store", ...init, headers });
      } catch (error) {
        throw new GatewayUnreachable(`gateway unreachable: ${error.message || error}`);
      }
    };
    const response = await attempt(false);
    return response.status === 401 ? attempt(true) : response;
  }
}
