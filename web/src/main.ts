import { ChatApp } from './app';
import { h, replaceChildren } from './dom';
import { devSignIn, devSignInAvailable, sessionFromLocation, storedSession, storeSession, type Session } from './session';

/** The web client's entry: sign in (fragment token, stored session, or development sign-in), then the chats. */
const root = document.getElementById('app')!;

function signedIn(session: Session): void {
  storeSession(session);
  const app = new ChatApp(root, session, (reason) => void showSignIn(reason));
  void app.start();
}

async function showSignIn(reason?: string): Promise<void> {
  const devAvailable = await devSignInAvailable();
  const problem = h('p', { role: 'alert', class: 'notice' }, reason ?? '');
  const name = h('input', { type: 'text', id: 'user-name', required: true, maxlength: 128, autocomplete: 'username' });
  const form = devAvailable
    ? h(
        'form',
        {
          class: 'sign-in-form',
          onsubmit: async (event: Event) => {
            event.preventDefault();
            try {
              signedIn(await devSignIn(name.value));
            } catch (error) {
              replaceChildren(problem, error instanceof Error ? error.message : String(error));
            }
          },
        },
        h('label', { for: 'user-name' }, 'User name'),
        name,
        h('button', { type: 'submit' }, 'Sign in'),
        h('p', { class: 'hint' }, 'Development sign-in: any name, no password. It is not offered in production.'),
      )
    : null;
  replaceChildren(
    root,
    h(
      'main',
      { class: 'sign-in' },
      h('h1', {}, 'Parley'),
      form,
      h('p', { class: 'hint' }, 'Or open this page with ', h('code', {}, '#token=<JWT>'), ' after its address, e.g. a token from ', h('code', {}, 'npx parley token alice'), '.'),
      problem,
    ),
  );
  name.focus();
}

function boot(): void {
  const session = sessionFromLocation() ?? storedSession();
  if (session) signedIn(session);
  else void showSignIn();
}

// A fragment typed into the address bar of an open page signs in again without a reload.
window.addEventListener('hashchange', () => {
  const session = sessionFromLocation();
  if (session) {
    storeSession(session);
    window.location.reload();
  }
});

boot();
