// The login form: a token's secret, exchanged for an HttpOnly session cookie.
import { field, h, replace } from '../dom.js';

export async function renderLogin(app, main) {
  const secret = h('input', { id: 'secret', type: 'password', name: 'secret', autocomplete: 'current-password', required: true });
  const message = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    {
      class: 'login',
      on: {
        submit: async (event) => {
          event.preventDefault();
          message.textContent = '';
          try {
            await app.api('/api/session', { method: 'POST', body: { secret: secret.value }, noLoginRedirect: true });
            await app.refreshSession();
            app.navigate('/');
          } catch (error) {
            message.textContent = error.message;
          }
        },
      },
    },
    field('Token secret', secret),
    h('button', { type: 'submit' }, 'Log in'),
    message,
  );
  replace(main, h('h1', {}, 'Log in'), h('p', {}, 'Enter the secret of a console token (JOBLEDGER_CONSOLE_TOKENS).'), form);
  secret.focus();
  return null;
}
