/** IPv4 addresses are carried as unsigned 32-bit numbers inside the stack. */
export function parseIpv4(text) {
    const parts = text.split('.');
    if (parts.length !== 4)
        return undefined;
    let v = 0;
    for (const p of parts) {
        if (!/^\d{1,3}$/.test(p))
            return undefined;
        const n = Number(p);
        if (n > 255)
            return undefined;
        v = v * 256 + n;
    }
    return v >>> 0;
}
export function formatIpv4(addr) {
    return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}
/** Parses `A.B.C.D` or `A.B.C.D/N`; host bits are cleared. */
export function parsePrefix(text) {
    const slash = text.indexOf('/');
    const addr = parseIpv4(slash < 0 ? text : text.slice(0, slash));
    if (addr === undefined)
        return undefined;
    let length = 32;
    if (slash >= 0) {
        const l = text.slice(slash + 1);
        if (!/^\d{1,2}$/.test(l) || Number(l) > 32)
            return undefined;
        length = Number(l);
    }
    return { network: (addr & prefixMask(length)) >>> 0, length };
}
export function prefixMask(length) {
    return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}
export function prefixContains(p, addr) {
    return ((addr & prefixMask(p.length)) >>> 0) === p.network;
}
export function formatPrefix(p) {
    return `${formatIpv4(p.network)}/${p.length}`;
}
/** Parses `HOST:PORT` (IPv4 or a name; port 0..65535). */
export function parseEndpoint(text) {
    const i = text.lastIndexOf(':');
    if (i <= 0)
        return undefined;
    const address = text.slice(0, i);
    const p = text.slice(i + 1);
    if (!/^\d{1,5}$/.test(p) || Number(p) > 65535)
        return undefined;
    return { address, port: Number(p) };
}
