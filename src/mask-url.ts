/**
 * The one way a URL is shown. Every URL jobledger prints (doctor, migrate, the demo), puts in an
 * error message (a malformed REDIS_URL, an unreachable Redis) or writes to a log goes through
 * `maskUrl`: the password in the user-info part and the values of secret-looking query parameters
 * become `***`; the scheme, the user name, the host, the port and the path stay, since they are
 * what an operator needs to recognise the target.
 *
 * URLs in configuration are often not well formed (a raw `@` or `/` in a password, an unclosed
 * IPv6 bracket), so this is not WHATWG `URL` parsing, which would either throw or guess. The
 * user-info part is everything up to the LAST `@` after `//`; if what follows it is not a plain
 * `host[:port]`, everything after `scheme://` is masked. A string that does not even start with a
 * scheme is masked as a whole: nothing in it can be told apart from a secret.
 */

const mask = '***';

/** Query parameters whose values are masked: passwords, tokens, keys and the like. */
const secretParameter = /pass|pwd|secret|token|auth|credential|private|key/i;

/** `scheme:`, as RFC 3986 spells it. */
const schemePattern = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** `host[:port]` (a name, an IPv4 address or a bracketed IPv6 address), then the end or a path, query or fragment. */
const hostPattern = /^(?:\[[0-9A-Fa-f:.]*\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(?::\d*)?(?=$|[/?#])/;

/** The URL with its secrets masked; see the file comment. Idempotent: a masked URL masks to itself. */
export function maskUrl(url: string): string {
  const scheme = schemePattern.exec(url)?.[0];
  if (scheme === undefined) return mask;
  const rest = url.slice(scheme.length);
  if (!rest.startsWith('//')) {
    // An opaque form (`sqlite:./path`, `sqlite::memory:`): an `@` there can only be a guess at credentials.
    return rest.includes('@') ? `${scheme}${mask}` : scheme + maskQueryAndFragment(rest);
  }
  const body = rest.slice(2);
  const at = body.lastIndexOf('@');
  const userinfo = at >= 0 ? body.slice(0, at) : undefined;
  const afterUserinfo = at >= 0 ? body.slice(at + 1) : body;
  const host = hostPattern.exec(afterUserinfo)?.[0];
  if (host === undefined) return `${scheme}//${mask}`;
  const shownUserinfo = userinfo === undefined ? '' : `${maskUserinfo(userinfo)}@`;
  return `${scheme}//${shownUserinfo}${host}${maskQueryAndFragment(afterUserinfo.slice(host.length))}`;
}

/**
 * Masks every `scheme://...` URL inside free text (an error message, a stack). A URL in text ends
 * at whitespace or a quote; trailing punctuation is kept out of it.
 */
export function maskUrlsInText(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(/[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>`]+/g, (found) => {
    const trailing = /[.,;:)\]}]+$/.exec(found)?.[0] ?? '';
    return maskUrl(found.slice(0, found.length - trailing.length)) + trailing;
  });
}

/**
 * The secrets a URL carries (its password, the values of its secret query parameters), as written
 * and percent-decoded, for the last-line scrubber of the logs (log-redaction.ts). Empty for a URL
 * without secrets.
 */
export function urlSecrets(url: string): string[] {
  const found = new Set<string>();
  const add = (raw: string): void => {
    if (raw === '' || raw === mask) return;
    found.add(raw);
    found.add(decode(raw));
    found.add(decode(raw.replace(/\+/g, ' ')));
  };
  const scheme = schemePattern.exec(url)?.[0];
  const rest = scheme === undefined ? url : url.slice(scheme.length);
  if (rest.startsWith('//')) {
    const body = rest.slice(2);
    const at = body.lastIndexOf('@');
    if (at >= 0) {
      const userinfo = body.slice(0, at);
      const colon = userinfo.indexOf(':');
      // Without a colon the user-info is a user name, unless the URL cannot be read at all.
      add(colon >= 0 ? userinfo.slice(colon + 1) : hostPattern.test(body.slice(at + 1)) ? '' : userinfo);
    }
  }
  const query = rest.indexOf('?');
  if (query >= 0) {
    for (const pair of rest.slice(query + 1).split(/[&#]/)) {
      const eq = pair.indexOf('=');
      if (eq > 0 && secretParameter.test(decode(pair.slice(0, eq)))) add(pair.slice(eq + 1));
    }
  }
  return [...found];
}

/** `user:password` → `user:***`; a bare user name is kept (it names an account, it does not open it). */
function maskUserinfo(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  return colon < 0 ? userinfo : `${userinfo.slice(0, colon)}:${mask}`;
}

/** Masks secret query values and any fragment of a path-query-fragment tail. */
function maskQueryAndFragment(tail: string): string {
  const hash = tail.indexOf('#');
  const beforeHash = hash >= 0 ? tail.slice(0, hash) : tail;
  const fragment = hash >= 0 && hash < tail.length - 1 ? `#${mask}` : hash >= 0 ? '#' : '';
  const question = beforeHash.indexOf('?');
  if (question < 0) return beforeHash + fragment;
  const query = beforeHash
    .slice(question + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq > 0 && secretParameter.test(decode(pair.slice(0, eq))) ? `${pair.slice(0, eq)}=${mask}` : pair;
    })
    .join('&');
  return `${beforeHash.slice(0, question)}?${query}${fragment}`;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
