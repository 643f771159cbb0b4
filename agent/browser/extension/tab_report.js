// What leaves the browser: one {app, focused, audible, incognito} per tab whose hostname
// matches the catalog, and nothing else. Only the URL's hostname is ever read; the path,
// query, fragment and title are never looked at, and a tab outside the catalog leaves no trace.

/** The agent refuses a tabs message with more entries (issue 9 contract, "Bounds"). */
export const MAX_TABS = 500;

/** The hostname of an http(s) URL, or null for anything else (about:, file:, chrome:, ...). */
export function webHostname(url) {
  if (typeof url !== "string" || url === "") return null;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.hostname : null;
}

/**
 * The catalog tabs among `tabs` (tabs.Tab objects), sorted so that the same set always
 * serialises the same way. `focusedWindows` holds the ids of focused windows; `match` maps a
 * hostname to an app id or null.
 */
export function catalogTabs(tabs, focusedWindows, match, reportIncognito) {
  const entries = [];
  for (const tab of tabs) {
    if (tab.incognito && !reportIncognito) continue;
    const hostname = webHostname(tab.url);
    const app = hostname === null ? null : match(hostname);
    if (app === null) continue;
    entries.push({
      app,
      focused: Boolean(tab.active) && focusedWindows.has(tab.windowId),
      audible: Boolean(tab.audible),
      incognito: Boolean(tab.incognito),
    });
  }
  entries.sort((a, b) => compareKeys(entryKey(a), entryKey(b)));
  return entries.slice(0, MAX_TABS);
}

/** The canonical JSON of a sorted entry list: equal sets give equal strings. */
export function canonical(entries) {
  return JSON.stringify(entries.map((e) => [e.app, e.focused, e.audible, e.incognito]));
}

function entryKey(entry) {
  // Focused and audible tabs first, so that a cut at MAX_TABS keeps the tabs in use.
  return [!entry.focused, !entry.audible, entry.app, entry.incognito].map(String).join("\u0000");
}

function compareKeys(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}
