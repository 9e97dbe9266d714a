// Telemetry: one event per prediction, queued in IndexedDB (kept across reloads and offline
// periods), sent in batches with exponential backoff and jitter. Events the gateway refuses are
// dropped and counted, never retried; only network failures, 408, 429 and 5xx are retried.
// Every event carries a uuid, so a batch sent twice (a lost response) is stored once.

const DB_NAME = "edgeline-telemetry";
const EVENTS = "events";
const META = "meta";
const BATCH = 100;
const BASE_DELAY_MS = 2000;
const MAX_DELAY_MS = 5 * 60 * 1000;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase() {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () => {
    open.result.createObjectStore(EVENTS, { autoIncrement: true });
    open.result.createObjectStore(META);
  };
  return request(open);
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = tx.onabort = () => reject(tx.error);
  });
}

const retriable = (status) => status === 408 || status === 429 || status >= 500;

export class TelemetryQueue {
  /** ``send(events)`` posts a batch and returns the Response (or throws when unreachable). */
  constructor({ send, maxEvents = 5000, onChange = () => {} }) {
    this.send = send;
    this.maxEvents = maxEvents;
    this.onChange = onChange;
    this.db = openDatabase();
    this.attempt = 0;
    this.timer = null;
    this.retryAt = null;
  }

  async add(event) {
    const db = await this.db;
    const tx = db.transaction([EVENTS, META], "readwrite");
    const events = tx.objectStore(EVENTS);
    events.add(event);
    const count = await request(events.count());
    if (count > this.maxEvents) {
      // full while offline for long: the oldest go first, and are counted
      const keys = await request(events.getAllKeys(null, count - this.maxEvents));
      for (const key of keys) events.delete(key);
      await this.#bump(tx, { overflowed: keys.length });
    }
    await done(tx);
    this.onChange();
    this.schedule(1000);
  }

  async #bump(tx, increments) {
    const meta = tx.objectStore(META);
    const counters = (await request(meta.get("counters"))) || {};
    for (const [name, value] of Object.entries(increments)) counters[name] = (counters[name] || 0) + value;
    meta.put(counters, "counters");
  }

  async stats() {
    const db = await this.db;
    const tx = db.transaction([EVENTS, META], "readonly");
    const queued = await request(tx.objectStore(EVENTS).count());
    const counters = (await request(tx.objectStore(META).get("counters"))) || {};
    return { queued, sent: 0, rejected: 0, dropped: 0, overflowed: 0, ...counters, retryAt: this.retryAt };
  }

  /** Flush soon (``delayMs``), unless a flush is already due sooner. */
  schedule(delayMs) {
    const at = Date.now() + delayMs;
    if (this.timer && this.retryAt && this.retryAt <= at) return;
    clearTimeout(this.timer);
    this.retryAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.retryAt = null;
      this.flush();
    }, delayMs);
  }

  #backoff(retryAfterS) {
    this.attempt += 1;
    const exponential = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (this.attempt - 1));
    const jittered = exponential * (0.5 + Math.random() / 2);
    this.schedule(Math.max(jittered, (retryAfterS || 0) * 1000));
  }

  /** Send everything queued; one tab at a time (Web Locks), so tabs never send an event twice. */
  flush() {
    return navigator.locks.request("edgeline-telemetry-flush", { ifAvailable: true }, async (lock) => {
      if (lock) await this.#flushLocked();
    });
  }

  async #flushLocked() {
    const db = await this.db;
    for (;;) {
      const read = db.transaction(EVENTS, "readonly").objectStore(EVENTS);
      const keys = await request(read.getAllKeys(null, BATCH));
      if (!keys.length) {
        this.attempt = 0;
        return;
      }
      const events = await request(read.getAll(IDBKeyRange.bound(keys[0], keys[keys.length - 1]), BATCH));
      let response;
      try {
        response = await this.send(events);
      } catch {
        this.#backoff(0);
        return;
      }
      if (retriable(response.status) || response.status === 401) {
        this.#backoff(Number(response.headers.get("Retry-After")) || 0);
        return;
      }
      const body = await response.json().catch(() => ({}));
      const increments = {};
      if (response.status === 200 || response.status === 207) {
        increments.sent = body.accepted ?? events.length;
        increments.rejected = (body.rejected || []).length;
      } else if (response.status === 422) {
        increments.rejected = events.length;
      } else {
        increments.dropped = events.length; // refused as a whole (e.g. 403): never resent
      }
      if (increments.rejected || increments.dropped) {
        console.warn("telemetry refused by the gateway", response.status, body);
      }
      const tx = db.transaction([EVENTS, META], "readwrite");
      for (const key of keys) tx.objectStore(EVENTS).delete(key);
      await this.#bump(tx, increments);
      await done(tx);
      this.attempt = 0;
      this.onChange();
    }
  }
}
