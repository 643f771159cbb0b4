// The catalog's host rule, the one definition shared with the agent (agent/catalog.py
// host_app): a pattern is a lowercase DNS name, or "*." and a domain meaning that domain and
// any subdomain. A hostname is lowercased and loses one trailing dot; an exact pattern beats
// any wildcard, and among wildcards the longest suffix wins, so "mail.google.com" -> gmail and
// "*.google.com" -> another app can coexist.

/** The hostname as the rule compares it: lowercase, without the trailing dot of an FQDN. */
export function normaliseHost(hostname) {
  const lower = String(hostname).toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/**
 * A function from hostname to app id (or null) for the config's [pattern, app] pairs.
 * Entries that are not two strings are skipped: the agent validated the catalog, and a bad
 * entry must not stop the others from matching.
 */
export function hostMatcher(hosts) {
  const exact = new Map();
  const wildcard = new Map();
  for (const entry of Array.isArray(hosts) ? hosts : []) {
    if (!Array.isArray(entry) || entry.length !== 2) continue;
    const [pattern, app] = entry;
    if (typeof pattern !== "string" || typeof app !== "string") continue;
    if (pattern.startsWith("*.")) wildcard.set(pattern.slice(2), app);
    else exact.set(pattern, app);
  }
  return (hostname) => {
    const host = normaliseHost(hostname);
    if (exact.has(host)) return exact.get(host);
    // Walk the suffixes from the longest (the host itself) to the shortest: the first
    // wildcard found is the most specific one.
    for (let suffix = host; suffix; ) {
      if (wildcard.has(suffix)) return wildcard.get(suffix);
      const dot = suffix.indexOf(".");
      suffix = dot < 0 ? "" : suffix.slice(dot + 1);
    }
    return null;
  };
}

/** The app id of one hostname under the [pattern, app] pairs, or null. */
export function hostApp(hostname, hosts) {
  return hostMatcher(hosts)(hostname);
}
