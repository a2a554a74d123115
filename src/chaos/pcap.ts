/**
 * A minimal pcap writer for the proxy's `--pcap FILE`: classic libpcap format,
 * microsecond timestamps, LINKTYPE_RAW (101: each record is a bare IP packet), which is
 * exactly the UDP payload of the overlay. Records are buffered and written synchronously
 * in batches. (To be unified with src/trace/pcap.ts when the trace module lands.)
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const LINKTYPE_RAW = 101;

export class PcapWriter {
  private fd: number;
  private pending: Buffer[] = [];
  private bytes = 0;
  packets = 0;

  constructor(path: string, private readonly snaplen = 65535) {
    this.fd = openSync(path, 'w');
    const h = Buffer.alloc(24);
    h.writeUInt32LE(0xa1b2c3d4, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8);
    h.writeUInt32LE(0, 12);
    h.writeUInt32LE(snaplen, 16);
    h.writeUInt32LE(LINKTYPE_RAW, 20);
    writeSync(this.fd, h);
  }

  /** Records one packet at wall-clock `epochMs`. */
  write(packet: Buffer, epochMs: number): void {
    if (this.fd < 0) return;
    const cap = Math.min(packet.length, this.snaplen);
    const r = Buffer.allocUnsafe(16 + cap);
    const sec = Math.floor(epochMs / 1000);
    r.writeUInt32LE(sec, 0);
    r.writeUInt32LE(Math.min(999999, Math.floor((epochMs - sec * 1000) * 1000)), 4);
    r.writeUInt32LE(cap, 8);
    r.writeUInt32LE(packet.length, 12);
    packet.copy(r, 16, 0, cap);
    this.pending.push(r);
    this.bytes += r.length;
    this.packets++;
    if (this.bytes >= 1 << 16) this.flush();
  }

  flush(): void {
    if (this.fd < 0 || this.pending.length === 0) return;
    writeSync(this.fd, Buffer.concat(this.pending));
    this.pending = [];
    this.bytes = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}
