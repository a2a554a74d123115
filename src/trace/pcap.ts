/**
 * Classic libpcap files (https://www.tcpdump.org/manpages/pcap-savefile.5.html) with
 * link type LINKTYPE_RAW (101): every record is a bare IPv4 packet, exactly what the
 * overlay carries in its UDP datagrams, so Wireshark/tshark decode IP and TCP directly.
 * Timestamps are wall-clock (microsecond resolution) at capture time.
 */
import { readFile } from 'node:fs/promises';
import { ChunkedFile } from './chunked-file.js';

export const LINKTYPE_RAW = 101;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
export const PCAP_SNAPLEN = 65535;

export class PcapWriter {
  private constructor(private readonly file: ChunkedFile) {}

  /** Creates (truncates) `path` and writes the global header. */
  static async open(path: string): Promise<PcapWriter> {
    const file = await ChunkedFile.open(path);
    file.append(GLOBAL_HEADER, (b, o) => {
      b.writeUInt32LE(MAGIC_US, o);
      b.writeUInt16LE(2, o + 4); // version 2.4
      b.writeUInt16LE(4, o + 6);
      b.writeInt32LE(0, o + 8); // thiszone: UTC
      b.writeUInt32LE(0, o + 12); // sigfigs
      b.writeUInt32LE(PCAP_SNAPLEN, o + 16);
      b.writeUInt32LE(LINKTYPE_RAW, o + 20);
    });
    return new PcapWriter(file);
  }

  /** Appends one IPv4 packet captured at `timeMs` (wall clock, ms since the epoch). */
  write(packet: Buffer, timeMs: number = Date.now()): void {
    const caplen = Math.min(packet.length, PCAP_SNAPLEN);
    let sec = Math.floor(timeMs / 1000);
    let usec = Math.round((timeMs - sec * 1000) * 1000);
    if (usec >= 1_000_000) {
      sec += 1;
      usec -= 1_000_000;
    }
    this.file.append(RECORD_HEADER + caplen, (b, o) => {
      b.writeUInt32LE(sec >>> 0, o);
      b.writeUInt32LE(usec, o + 4);
      b.writeUInt32LE(caplen, o + 8);
      b.writeUInt32LE(packet.length, o + 12);
      packet.copy(b, o + RECORD_HEADER, 0, caplen);
    });
  }

  flush(): void {
    this.file.flush();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

export interface PcapRecord {
  /** Wall-clock capture time, ms since the epoch. */
  timeMs: number;
  data: Buffer;
  /** Length of the packet on the wire (data may be shorter if it was cut at snaplen). */
  origLen: number;
}

export interface PcapFile {
  linkType: number;
  snaplen: number;
  records: PcapRecord[];
}

/** Reads a whole classic pcap file (either byte order, us or ns timestamps). */
export async function readPcap(path: string): Promise<PcapFile> {
  return parsePcap(await readFile(path));
}

export function parsePcap(buf: Buffer): PcapFile {
  if (buf.length < GLOBAL_HEADER) throw new Error('pcap: file too short for the global header');
  let le: boolean;
  const m = buf.readUInt32LE(0);
  if (m === MAGIC_US || m === MAGIC_NS) le = true;
  else if (buf.readUInt32BE(0) === MAGIC_US || buf.readUInt32BE(0) === MAGIC_NS) le = false;
  else throw new Error(`pcap: bad magic 0x${m.toString(16)}`);
  const nano = (le ? m : buf.readUInt32BE(0)) === MAGIC_NS;
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const out: PcapFile = { snaplen: u32(16), linkType: u32(20), records: [] };
  let o = GLOBAL_HEADER;
  while (o + RECORD_HEADER <= buf.length) {
    const sec = u32(o);
    const frac = u32(o + 4);
    const incl = u32(o + 8);
    const orig = u32(o + 12);
    if (o + RECORD_HEADER + incl > buf.length) throw new Error(`pcap: truncated record at offset ${o}`);
    out.records.push({
      timeMs: sec * 1000 + (nano ? frac / 1e6 : frac / 1e3),
      data: buf.subarray(o + RECORD_HEADER, o + RECORD_HEADER + incl),
      origLen: orig,
    });
    o += RECORD_HEADER + incl;
  }
  if (o !== buf.length) throw new Error(`pcap: ${buf.length - o} trailing bytes`);
  return out;
}
