/**
 * A message-sequence ("ladder") diagram of a TCP conversation: the two ends as vertical
 * time lines, each segment an arrow from its send time to its arrival on the other side,
 * labelled with its flags, relative sequence number and length; state changes in the
 * margins. Used for the handshake-and-teardown figure.
 */
import type { TcpTraceEvent } from '../../src/tcp/types.js';
import { escapeXml } from '../../src/trace/svg.js';

const FLAG_NAMES: Array<[number, string]> = [[0x02, 'SYN'], [0x01, 'FIN'], [0x04, 'RST'], [0x08, 'PSH'], [0x10, 'ACK']];

function flagText(flags: number): string {
  return FLAG_NAMES.filter(([b]) => flags & b).map(([, n]) => n).join('+') || '-';
}

export interface LadderSide {
  name: string;
  events: TcpTraceEvent[];
}

export function renderLadder(title: string, a: LadderSide, b: LadderSide, oneWayMs: number): string {
  const W = 960;
  const top = 80;
  const xa = 230;
  const xb = W - 230;
  const sends = [
    ...a.events.filter((e) => e.type === 'send').map((e) => ({ from: 'a' as const, e: e as Extract<TcpTraceEvent, { type: 'send' }> })),
    ...b.events.filter((e) => e.type === 'send').map((e) => ({ from: 'b' as const, e: e as Extract<TcpTraceEvent, { type: 'send' }> })),
  ].sort((p, q) => p.e.t - q.e.t);
  const t0 = Math.min(...sends.map((s) => s.e.t));
  // Each segment gets its own row (time runs down, in order but not to scale), so segments
  // sent back to back stay readable; an arrow spans most of a row.
  const row = 44;
  const rowOf = new Map<TcpTraceEvent, number>(sends.map((s, i) => [s.e, i]));
  const lastSend = Math.max(...sends.map((s) => s.e.t)) + oneWayMs;
  const H = top + (sends.length + 3) * row + 40;
  const ySend = (e: TcpTraceEvent): number => top + 20 + rowOf.get(e)! * row;
  /** A state change: just below the row of the last segment sent or arrived at or before it. */
  const yState = (t: number, side: 'a' | 'b'): number => {
    let yy = top + 10;
    for (const { from, e } of sends) {
      if (from === side && e.t <= t) yy = Math.max(yy, ySend(e) + 4);
      if (from !== side && e.t + oneWayMs <= t) yy = Math.max(yy, ySend(e) + row * 0.8 + 4);
    }
    return t > lastSend ? top + 20 + (sends.length + 1) * row : yy;
  };
  const isn = { a: sends.find((s) => s.from === 'a')?.e.seq ?? 0, b: sends.find((s) => s.from === 'b')?.e.seq ?? 0 };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f3fb4"/></marker></defs>`);
  parts.push(`<text x="${W / 2}" y="30" font-size="22" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`);
  for (const [x, name] of [[xa, a.name], [xb, b.name]] as const) {
    parts.push(`<text x="${x}" y="62" font-size="18" text-anchor="middle" font-weight="bold">${escapeXml(name)}</text>`);
    parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${H - 40}" stroke="#333" stroke-width="2"/>`);
  }
  parts.push(`<text x="20" y="${H - 14}" font-size="14" fill="#555">one row per segment, time runs down (send times in ms; one-way delay ${oneWayMs} ms)</text>`);
  for (const { from, e } of sends) {
    const x1 = from === 'a' ? xa : xb;
    const x2 = from === 'a' ? xb : xa;
    const y1 = ySend(e);
    const y2 = y1 + row * 0.8;
    const rel = (e.seq - isn[from]) >>> 0;
    const ackNo = (e as { ack?: number }).ack;
    const other = from === 'a' ? isn.b : isn.a;
    const ackText = ackNo !== undefined && e.flags & 0x10 ? ` ack=${(ackNo - other) >>> 0}` : '';
    const label = `${flagText(e.flags)}${e.len ? ` ${e.len} B` : ''}  seq=${rel}${ackText}${e.retransmit ? ' (retransmit)' : ''}`;
    const color = e.flags & 0x02 ? '#2ca02c' : e.flags & 0x01 ? '#d62728' : '#1f3fb4';
    parts.push(`<line x1="${x1}" y1="${y1.toFixed(1)}" x2="${x2}" y2="${y2.toFixed(1)}" stroke="${color}" stroke-width="2" marker-end="url(#arr)"/>`);
    const mx = (x1 + x2) / 2;
    const my = (y1 + y2) / 2 - 5;
    parts.push(`<text x="${mx}" y="${my.toFixed(1)}" font-size="15" text-anchor="middle" fill="${color}">${escapeXml(label)}</text>`);
    parts.push(`<text x="${from === 'a' ? xa - 8 : xb + 8}" y="${(y1 + 4).toFixed(1)}" font-size="12" fill="#777" text-anchor="${from === 'a' ? 'end' : 'start'}">${(e.t - t0).toFixed(0)} ms</text>`);
  }
  for (const [side, key, x, anchor] of [[a, 'a', xa - 60, 'end'], [b, 'b', xb + 60, 'start']] as const) {
    let prevY = -Infinity;
    for (const e of side.events) {
      if (e.type !== 'state') continue;
      const later = e.t > lastSend + 1 ? ` (+${Math.round(e.t - t0)} ms)` : '';
      const yy = Math.max(yState(e.t, key), prevY + 16);
      prevY = yy;
      parts.push(`<text x="${x}" y="${yy.toFixed(1)}" font-size="14" font-weight="bold" fill="#444" text-anchor="${anchor}">${escapeXml(e.to + later)}</text>`);
    }
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
