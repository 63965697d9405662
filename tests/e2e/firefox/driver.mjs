// Drives Debian's firefox-esr for the e2e tests, over WebDriver BiDi with puppeteer-core.
//
// One browser per process. Requests come on stdin, one JSON object a line:
//   {"id": 1, "cmd": "newPage"}                          -> {"id": 1, "ok": true, "result": "p1"}
//   {"id": 2, "cmd": "goto", "page": "p1", "url": "..."}
//   {"id": 3, "cmd": "evaluate", "page": "p1", "fn": "(a) => a + 1", "args": [1]}
//   {"id": 4, "cmd": "waitFor", "page": "p1", "fn": "...", "args": [], "timeout": 20000}
//   {"id": 5, "cmd": "screenshot", "page": "p1", "path": "/tmp/x.png"}
//   {"id": 6, "cmd": "closePage", "page": "p1"}
//   {"id": 7, "cmd": "close"}
// Answers go to stdout, one a line: {"id", "ok": true, "result"} or {"id", "ok": false,
// "error"}. Events are lines without an id: {"event": "console", "page", "text"}, and
// {"event": "ready"} once the browser runs. A closed stdin closes the browser.
//
// Environment: SNAPCONF_FIREFOX (the executable, default /usr/bin/firefox-esr),
// SNAPCONF_FIREFOX_PROFILE (the profile directory to use), SNAPCONF_FIREFOX_PREFS (JSON
// of extra preferences, for experiments).
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const executablePath = process.env.SNAPCONF_FIREFOX || "/usr/bin/firefox-esr";

// The machine reaches nothing but loopback: everything Firefox would fetch or probe at
// start is off, and the fake camera and microphone need no permission prompt.
const PREFS = {
  "media.navigator.streams.fake": true,
  // the room page speaks the browser's language: French, as most of its users
  "intl.accept_languages": "fr-FR, fr",
  "media.navigator.permission.disabled": true,
  "media.autoplay.default": 0,
  "media.autoplay.blocking_policy": 0,
  // the server listens on 127.0.0.1: gather loopback candidates, show real host addresses
  "media.peerconnection.ice.loopback": true,
  "media.peerconnection.ice.obfuscate_host_addresses": false,
  "media.gmp-manager.updateEnabled": false,
  "media.gmp-gmpopenh264.autoupdate": false,
  "media.gmp-gmpopenh264.enabled": false,
  "media.gmp-widevinecdm.enabled": false,
  "media.eme.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "network.dns.disablePrefetch": true,
  "network.prefetch-next": false,
  "network.predictor.enabled": false,
  "network.trr.mode": 5,
  "network.proxy.type": 0,
  "security.OCSP.enabled": 0,
  "security.remote_settings.crlite_filters.enabled": false,
  "app.update.enabled": false,
  "app.update.auto": false,
  "toolkit.telemetry.enabled": false,
  "toolkit.telemetry.server": "",
  "toolkit.telemetry.unified": false,
  "browser.ping-centre.telemetry": false,
  "browser.region.network.url": "",
  "browser.region.update.enabled": false,
  "browser.safebrowsing.provider.google4.updateURL": "",
  "browser.safebrowsing.provider.mozilla.updateURL": "",
  "browser.topsites.contile.enabled": false,
  "extensions.blocklist.enabled": false,
  "extensions.systemAddon.update.enabled": false,
  "identity.fxaccounts.enabled": false,
  "privacy.sanitize.sanitizeOnShutdown": false,
};

const pages = new Map();
let nextPage = 1;
let browser = null;

function write(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function page(id) {
  const p = pages.get(id);
  if (!p) throw new Error(`no page ${id}`);
  return p;
}

// A function's source and its JSON arguments, called in the page.
function call(fn, args) {
  return `(${fn})(...${JSON.stringify(args || [])})`;
}

const commands = {
  async newPage() {
    // its own window: a page in a background tab is hidden (document.hidden), and the
    // room page reports hidden videos to the server as not to be sent (setViews)
    const p = await browser.newPage({ type: "window" });
    const id = `p${nextPage++}`;
    pages.set(id, p);
    p.on("console", (m) => write({ event: "console", page: id, text: `${m.type()}: ${m.text()}` }));
    p.on("pageerror", (e) => write({ event: "console", page: id, text: `pageerror: ${e}` }));
    await p.setViewport({ width: 1000, height: 700 });
    return id;
  },
  async goto({ page: id, url }) {
    await page(id).goto(url, { waitUntil: "load" });
    return null;
  },
  async evaluate({ page: id, fn, args }) {
    return await page(id).evaluate(call(fn, args));
  },
  async waitFor({ page: id, fn, args, timeout }) {
    const handle = await page(id).waitForFunction(call(fn, args), {
      timeout: timeout ?? 20000,
      polling: 200,
    });
    const value = await handle.jsonValue();
    await handle.dispose();
    return value;
  },
  async screenshot({ page: id, path }) {
    await page(id).screenshot({ path });
    return path;
  },
  async closePage({ page: id }) {
    const p = page(id);
    pages.delete(id);
    await p.close({ runBeforeUnload: true });
    return null;
  },
  async close() {
    await shutdown();
    return null;
  },
};

async function shutdown() {
  if (browser) {
    const b = browser;
    browser = null;
    await b.close().catch(() => {});
  }
}

async function handle(line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    write({ event: "error", text: `unreadable request ${line.slice(0, 200)}` });
    return;
  }
  try {
    const command = commands[msg.cmd];
    if (!command) throw new Error(`unknown command ${msg.cmd}`);
    write({ id: msg.id, ok: true, result: (await command(msg)) ?? null });
  } catch (err) {
    write({ id: msg.id, ok: false, error: String(err && err.stack ? err.stack : err) });
  }
  if (msg.cmd === "close") process.exit(0);
}

browser = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath,
  headless: true,
  extraPrefsFirefox: { ...PREFS, ...JSON.parse(process.env.SNAPCONF_FIREFOX_PREFS || "{}") },
  // a profile directory of the caller's (the test's tmp_path), so that none is left in /tmp
  userDataDir: process.env.SNAPCONF_FIREFOX_PROFILE || undefined,
  args: ["--no-remote"],
});
write({ event: "ready", version: await browser.version() });

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  handle(line);
});
lines.on("close", async () => {
  await shutdown();
  process.exit(0);
});
