/**
 * Who may move a support request where. Ops answer (with a reply) and close; the customer may
 * close their own request, or reopen it when the answer did not settle it. Pure.
 */
export type SupportStatus = 'open' | 'answered' | 'closed';
export type SupportActor = 'ops' | 'customer';

export type SupportMove = { ok: true; status: SupportStatus } | { ok: false; reason: string };

const ALLOWED: Record<SupportActor, Record<SupportStatus, readonly SupportStatus[]>> = {
  // to: from which statuses
  ops: { open: ['answered', 'closed'], answered: ['open', 'answered'], closed: ['open', 'answered'] },
  customer: { open: ['answered', 'closed'], answered: [], closed: ['open', 'answered'] },
};

export function moveSupportRequest(current: SupportStatus, actor: SupportActor, to: SupportStatus, hasReply: boolean): SupportMove {
  if (to === current && !(actor === 'ops' && to === 'answered')) return { ok: true, status: current };
  if (!ALLOWED[actor][to].includes(current)) {
    const who = actor === 'ops' ? 'Ops' : 'You';
    return { ok: false, reason: `${who} cannot move a support request from ${current} to ${to}.` };
  }
  if (to === 'answered' && !hasReply) return { ok: false, reason: 'An answered request needs a reply.' };
  return { ok: true, status: to };
}
