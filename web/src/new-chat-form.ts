import type { ParleyClient } from '../../client';
import { h, replaceChildren } from './dom';
import { parseIds } from './format';
import { CREATE_CHAT, type Chat } from './operations';

/** [button] "New chat" → [textbox] "Chat name", [textbox] "Participants", [button] "Create" (DESIGN.md §9). */
export function newChatForm(client: ParleyClient, created: (chat: Chat) => void): HTMLElement {
  const name = h('input', { type: 'text', id: 'new-chat-name', required: true, maxlength: 200, autocomplete: 'off' });
  const participants = h('input', { type: 'text', id: 'new-chat-participants', autocomplete: 'off', placeholder: 'bob, carol' });
  const problem = h('p', { role: 'alert', class: 'notice' });
  const form: HTMLFormElement = h(
    'form',
    { class: 'new-chat', hidden: true, onsubmit: (event: Event) => (event.preventDefault(), void create()) },
    h('label', { for: 'new-chat-name' }, 'Chat name'),
    name,
    h('label', { for: 'new-chat-participants' }, 'Participants'),
    participants,
    h('p', { class: 'hint' }, 'User ids, separated by commas or spaces. You are in it anyway.'),
    h('button', { type: 'submit' }, 'Create'),
    problem,
  );
  const toggle = h('button', {
    type: 'button',
    class: 'new-chat-toggle',
    'aria-expanded': 'false',
    'aria-controls': 'new-chat-form',
    onclick: () => show(form.hidden !== false),
  }, 'New chat');
  form.id = 'new-chat-form';

  function show(open: boolean): void {
    form.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) name.focus();
  }

  async function create(): Promise<void> {
    replaceChildren(problem);
    try {
      const { createChat } = await client.request<{ createChat: Chat }>(CREATE_CHAT, {
        input: { name: name.value, participantIds: parseIds(participants.value) },
      });
      name.value = '';
      participants.value = '';
      show(false);
      created(createChat);
    } catch (error) {
      replaceChildren(problem, error instanceof Error ? error.message : String(error));
    }
  }

  return h('div', { class: 'new-chat-area' }, toggle, form);
}
