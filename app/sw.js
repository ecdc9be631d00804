// Alpenglow's service worker: browser plumbing, kept small on purpose.
//
// 1. Cross-origin isolation for hosts that cannot send headers: every same-origin response it
//    serves gets COOP same-origin, COEP require-corp and CORP same-origin. The page registers
//    it and reloads once when it finds itself not isolated (app/src/offline.rs).
// 2. Offline use. One cache, `alpenglow-<v>`, where <v> is derived from the artifacts' sha256s
//    in dist/manifest.json. A new manifest makes a new cache: the app shell is copied over,
//    the artifacts are not, and every other alpenglow-* cache is deleted.
//    - network first, cache fallback: navigations (index.html), dist/manifest.json and other
//      files whose names do not change with their content (worker*.js, xterm/*, icons, …);
//    - cache first: trunk's hashed files (app-<hash>.js, …) and the artifacts the manifest
//      lists; an artifact is only cached when its sha256 matches the manifest.
//    Nothing is precached from a build-time list: it caches what passes through it, and the
//    page sends it the URLs it fetched before the worker controlled it ({type: "cache"}).
// 3. Servers in the guest: `_port/N/…` is answered over HTTP by the guest's TCP port N. The
//    request goes to the pages of the site in turn ({type: "guest-http"}); the one that runs
//    a machine has its gateway ask the guest (app/src/ports.rs) and replies on the port.
"use strict";

const PREFIX = "alpenglow-";
const SCOPE = new URL("./", self.location).href;
const MANIFEST = new URL("dist/manifest.json", SCOPE).href;
const DIST = new URL("dist/", SCOPE).href;
// trunk's content-hashed names: app-0123456789abcdef.js, app-…_bg.wasm, style-….css
const HASHED = /-[0-9a-f]{16}(_bg)?\.(js|wasm|css)$/;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function isolated(resp) {
  if (resp.status === 0) return resp; // opaque: cannot be rewritten
  const headers = new Headers(resp.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  headers.set("Cross-Origin-Resource-Policy", "same-origin");
  return new Response(resp.body, { status: resp.status, statusText: resp.statusText, headers });
}

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (buf) => hex(await crypto.subtle.digest("SHA-256", buf));

// The cache version of a manifest: the sha256 of its artifacts' "name sha256" lines.
async function versionOf(manifest) {
  const lines = Object.keys(manifest.artifacts || {})
    .sort()
    .map((name) => `${name} ${manifest.artifacts[name].sha256}\n`);
  return PREFIX + (await sha256(new TextEncoder().encode(lines.join("")))).slice(0, 16);
}

async function ourCaches() {
  return (await caches.keys()).filter((n) => n.startsWith(PREFIX));
}

// Makes `resp` (a manifest from the network) the current version: a new cache holding it and
// the old cache's app shell; older caches are deleted. Racing calls agree on the name.
async function adopt(resp) {
  const manifest = await resp.clone().json();
  const name = await versionOf(manifest);
  const old = (await ourCaches()).filter((n) => n !== name);
  const cache = await caches.open(name);
  for (const o of old) {
    const from = await caches.open(o);
    for (const req of await from.keys()) {
      if (!req.url.startsWith(DIST)) await cache.put(req, await from.match(req));
    }
    await caches.delete(o);
  }
  await cache.put(MANIFEST, resp);
  return cache;
}

// The current cache; on a first visit, learn the version from the network manifest.
async function current() {
  const names = await ourCaches();
  if (names.length) return caches.open(names[names.length - 1]);
  const resp = await fetch(MANIFEST, { cache: "no-store" });
  if (!resp.ok) throw new Error(`manifest.json: HTTP ${resp.status}`);
  return adopt(resp);
}

// The cache key: every navigation is the app's one page.
const keyOf = (request) => (request.mode === "navigate" ? SCOPE : request.url);

// Stores a network response if it is worth keeping; artifacts only if their sha256 matches.
async function store(key, resp) {
  if (!resp.ok || resp.type !== "basic" || resp.status !== 200) return;
  if (key === MANIFEST) return void (await adopt(resp));
  const cache = await current();
  if (key.startsWith(DIST)) {
    const manifest = await (await cache.match(MANIFEST))?.json();
    const info = manifest?.artifacts?.[key.slice(DIST.length)];
    if (!info || (await sha256(await resp.clone().arrayBuffer())) !== info.sha256) return;
  }
  await cache.put(key, resp);
}

async function networkFirst(event, key) {
  try {
    const resp = await fetch(event.request);
    const stored = store(key, resp.clone()).catch(() => {});
    // A new manifest must have replaced the old cache before the page asks for artifacts.
    if (key === MANIFEST) await stored;
    else event.waitUntil(stored);
    return resp;
  } catch (offline) {
    const hit = await caches.match(key);
    if (hit) return hit;
    throw offline;
  }
}

async function cacheFirst(event, key) {
  const hit = await caches.match(key);
  if (hit) return hit;
  const resp = await fetch(event.request);
  event.waitUntil(store(key, resp.clone()).catch(() => {}));
  return resp;
}

// `_port/N` and what follows, in a URL of the scope.
const GUEST_PORT = /^_port\/(\d{1,5})(\/.*)?$/;
// How long a page may take to answer for the guest before the request is given up.
const GUEST_WAIT_MS = 75000;

const text = (status, why) =>
  new Response(`alpenglow: ${why}\n`, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });

// One page's answer to `msg`: {status, statusText, headers, body}, or null.
function ask(client, msg) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(undefined), GUEST_WAIT_MS);
    channel.port1.onmessage = (e) => {
      clearTimeout(timer);
      resolve(e.data);
    };
    client.postMessage(msg, [channel.port2]);
  });
}

async function fromGuest(request, port, path) {
  const body = ["GET", "HEAD"].includes(request.method) ? null : await request.arrayBuffer();
  const msg = { type: "guest-http", port, method: request.method, path, headers: [...request.headers], body };
  for (const client of await self.clients.matchAll({ type: "window", includeUncontrolled: true })) {
    const answer = await ask(client, msg);
    if (answer === undefined) return text(504, `the page running the machine did not answer for port ${port}`);
    if (!answer) continue;
    const empty = [101, 204, 205, 304].includes(answer.status) || request.method === "HEAD";
    try {
      return new Response(empty ? null : answer.body, {
        status: answer.status,
        statusText: answer.statusText,
        headers: answer.headers,
      });
    } catch (e) {
      return text(502, `the guest's port ${port} answered with status ${answer.status}: ${e}`);
    }
  }
  return text(503, "no page of this site is running a machine: open it, then reload this one");
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const guest = request.url.startsWith(SCOPE) && url.pathname.slice(new URL(SCOPE).pathname.length).match(GUEST_PORT);
  if (guest && Number(guest[1]) >= 1 && Number(guest[1]) <= 65535) {
    // `_port/N` alone: relative links need the slash.
    if (!guest[2]) return void event.respondWith(Response.redirect(new URL(url.pathname + "/" + url.search, url).href, 301));
    return void event.respondWith(fromGuest(request, Number(guest[1]), guest[2] + url.search));
  }
  if (request.method !== "GET" || !request.url.startsWith(SCOPE)) return;
  const key = keyOf(request);
  const immutable = HASHED.test(new URL(key).pathname) || (key.startsWith(DIST) && key !== MANIFEST);
  const served = immutable ? cacheFirst(event, key) : networkFirst(event, key);
  event.respondWith(served.then(isolated));
});

// {type: "cache", urls}: the page lists what it fetched before this worker controlled it;
// whatever is not cached yet is fetched and stored. Replies {cached, missing} on the port.
self.addEventListener("message", (event) => {
  const { type, urls } = event.data || {};
  // {type: "claim"}: a page loaded past this worker (e.g. a hard reload) asks to be controlled.
  if (type === "claim") return void event.waitUntil(self.clients.claim());
  if (type !== "cache" || !Array.isArray(urls)) return;
  const port = event.ports[0];
  event.waitUntil(
    (async () => {
      const missing = [];
      const keys = urls.map((u) => {
        const url = new URL(u, SCOPE);
        url.hash = "";
        return url.href === SCOPE + "index.html" ? SCOPE : url.href;
      });
      for (const key of new Set(keys)) {
        if (!key.startsWith(SCOPE) || key === self.location.href) continue;
        try {
          if (!(await caches.match(key))) await store(key, await fetch(key, { cache: "no-store" }));
          if (!(await caches.match(key))) missing.push(key);
        } catch (e) {
          missing.push(key);
        }
      }
      const cached = (await (await current()).keys()).length;
      port?.postMessage({ cached, missing });
    })(),
  );
});
