/**
 * Who is signed in in this tab. A `#token=<JWT>` fragment signs in with that token (and leaves the
 * address bar at once, so it is not bookmarked or shared by accident); outside production a user
 * name gets a development token from `POST /dev/token`, which can be asked again when it runs out.
 */
export interface Session {
  token: string;
  /** Set for a development sign-in: the name a fresh token can be asked for. */
  devUserId?: string;
}

const STORAGE_KEY = 'parley.session';

/** The server refused the token and there is no way to get another without the user. */
export class SessionEnded extends Error {
  override name = 'SessionEnded';
}

export function sessionFromLocation(): Session | null {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get('token');
  if (token === null) return null;
  history.replaceState(null, '', window.location.pathname + window.location.search);
  return token.trim() ? { token: token.trim() } : null;
}

export function storedSession(): Session | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null;
    return stored && typeof stored.token === 'string' ? stored : null;
  } catch {
    return null;
  }
}

export function storeSession(session: Session | null): void {
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** The endpoint exists only outside production; it answers 405 to anything but POST. */
export async function devSignInAvailable(): Promise<boolean> {
  try {
    const response = await fetch('/dev/token', { method: 'GET' });
    return response.status === 405;
  } catch {
    return false;
  }
}

export async function devSignIn(userId: string): Promise<Session> {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  const body = (await response.json().catch(() => ({}))) as { token?: string; errors?: { message: string }[] };
  if (!response.ok || !body.token) throw new Error(body.errors?.[0]?.message ?? `sign-in failed (HTTP ${response.status})`);
  return { token: body.token, devUserId: userId };
}
