// commaudit's browser extension: tells the agent on this device which catalog web services are
// open in tabs, through the native messaging host "org.commaudit.agent" (issue 9).
//
// hello -> the agent answers with config {collect, report_incognito, hosts}; from then on the
// extension sends the whole set of catalog tabs whenever it changes, and a keepalive every
// 60 s. With collect false (a personal-profile device, policy section 3.2) it sends keepalives
// only. When the host goes away it reconnects with jittered exponential backoff, 1 s to 5 min.
//
// Lifetime: in Chromium an open native messaging port keeps the extension service worker alive
// (Chrome 105, crbug.com/1189678; "Extension service worker lifecycle" on
// developer.chrome.com); Firefox keeps an event page alive while it has activity such as
// the port's messages (w3c/webextensions#256). The alarm below wakes a worker that was stopped
// while it waited to reconnect, and runtime.onStartup starts it with the browser.

import { hostMatcher } from "./host_match.js";
import { canonical, catalogTabs } from "./tab_report.js";

const api = globalThis.browser ?? globalThis.chrome;

const HOST = "org.commaudit.agent";
const KEEPALIVE_MS = 60_000;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 300_000;
const SETTLE_MS = 150;
const WAKE_ALARM = "commaudit-wake";

const state = {
  port: null,
  config: null, // the agent's latest config; null until it answers hello
  match: () => null,
  lastSent: null, // canonical JSON of the last tabs message on this connection
  keepalive: null,
  retry: null,
  failures: 0,
  pending: null,
};

function browserName() {
  if (api.runtime.getURL("").startsWith("moz-extension:")) return "firefox";
  const brands = (globalThis.navigator?.userAgentData?.brands ?? []).map((b) => b.brand);
  const agent = globalThis.navigator?.userAgent ?? "";
  if (brands.includes("Microsoft Edge") || agent.includes(" Edg/")) return "edge";
  if (brands.includes("Google Chrome")) return "chrome";
  return "chromium";
}

function connect() {
  if (state.port !== null || state.retry !== null) return;
  const port = api.runtime.connectNative(HOST);
  state.port = port;
  state.lastSent = null;
  port.onMessage.addListener((message) => onMessage(port, message));
  port.onDisconnect.addListener(() => onDisconnect(port));
  port.postMessage({
    type: "hello",
    browser: browserName(),
    extension_version: api.runtime.getManifest().version,
  });
  state.keepalive = setInterval(() => post({ type: "keepalive" }), KEEPALIVE_MS);
}

function onMessage(port, message) {
  if (port !== state.port || message === null || typeof message !== "object") return;
  if (message.type === "config") {
    state.failures = 0; // the agent answered: the next disconnect starts the backoff afresh
    state.config = {
      collect: message.collect === true,
      reportIncognito: message.report_incognito === true,
    };
    state.match = hostMatcher(message.hosts);
    state.lastSent = null;
    schedule();
  } else if (message.type === "refused") {
    // The agent closes the connection next; onDisconnect reconnects with backoff.
    console.warn(`commaudit agent refused: ${message.reason}`);
  }
}

function onDisconnect(port) {
  if (port !== state.port) return;
  const reason = api.runtime.lastError?.message ?? port.error?.message ?? "host exited";
  clearInterval(state.keepalive);
  state.port = null;
  state.config = null;
  state.match = () => null;
  state.keepalive = null;
  const ceiling = Math.min(BACKOFF_FIRST_MS * 2 ** state.failures, BACKOFF_MAX_MS);
  const delay = ceiling / 2 + Math.random() * (ceiling / 2);
  state.failures += 1;
  console.warn(`commaudit host disconnected (${reason}); retrying in ${Math.round(delay)} ms`);
  state.retry = setTimeout(() => {
    state.retry = null;
    connect();
  }, delay);
}

function post(message) {
  try {
    state.port?.postMessage(message);
  } catch (error) {
    // A port that died between the check and the call: onDisconnect handles the rest.
    console.warn(`commaudit: could not send ${message.type}: ${error}`);
  }
}

/** Coalesce a burst of tab events (a navigation fires several) into one look at the tabs. */
function schedule() {
  if (state.pending !== null) return;
  state.pending = setTimeout(() => {
    state.pending = null;
    report().catch((error) => console.warn(`commaudit: tab report failed: ${error}`));
  }, SETTLE_MS);
}

async function report() {
  if (state.port === null || state.config === null || !state.config.collect) return;
  const [tabs, windows] = await Promise.all([api.tabs.query({}), api.windows.getAll()]);
  if (state.config === null) return; // disconnected meanwhile
  const focused = new Set(windows.filter((w) => w.focused).map((w) => w.id));
  const entries = catalogTabs(tabs, focused, state.match, state.config.reportIncognito);
  const key = canonical(entries);
  if (key === state.lastSent) return;
  state.lastSent = key;
  post({ type: "tabs", tabs: entries });
}

function wake() {
  if (state.port === null && state.retry === null) connect();
}

// Listeners are registered synchronously at the top level, so that the browser can start a
// stopped worker for any of these events.
api.tabs.onCreated.addListener(schedule);
api.tabs.onRemoved.addListener(schedule);
api.tabs.onActivated.addListener(schedule);
api.tabs.onReplaced.addListener(schedule);
api.tabs.onUpdated.addListener((tabId, change) => {
  if ("url" in change || "audible" in change || "status" in change) schedule();
});
api.windows.onFocusChanged.addListener(schedule);
api.windows.onRemoved.addListener(schedule);
api.runtime.onStartup.addListener(wake);
api.runtime.onInstalled.addListener(wake);
api.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === WAKE_ALARM) wake();
});
api.alarms.create(WAKE_ALARM, { periodInMinutes: 1 });

connect();
