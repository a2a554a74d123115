/** Our IP-in-UDP MTU: 1472 bytes of UDP payload carry one IPv4 packet, minus 20+20 headers. */
export const DEFAULT_MSS = 1432;
/** RFC 9293 3.7.1 / RFC 1122 4.2.2.6: the MSS assumed when the SYN carries no MSS option. */
export const DEFAULT_PEER_MSS = 536;
/**
 * The smallest MSS we accept from a peer. Smaller announced values are raised to this (like
 * Linux tcp_min_snd_mss, which guards against the "SACK panic" tiny-MSS resource attack).
 */
export const MIN_PEER_MSS = 88;
export function defaultTcpConfig(overrides = {}) {
    const rcvBuf = overrides.rcvBuf ?? 4 * 1024 * 1024;
    const base = {
        mss: DEFAULT_MSS,
        initialWindowSegments: 10,
        cc: 'cubic',
        sack: true,
        timestamps: true,
        windowScale: true,
        rcvBuf,
        sndBuf: 4 * 1024 * 1024,
        noDelay: false,
        delayedAckMs: 40,
        coalesceAcks: true,
        minRto: 200,
        maxRto: 60_000,
        initialRto: 1000,
        synRetries: 6,
        maxRetries: 15,
        userTimeout: 0,
        msl: 30_000,
        keepAlive: false,
        keepAliveIdle: 7_200_000,
        keepAliveInterval: 75_000,
        keepAliveProbes: 9,
        maxOutOfOrderBytes: rcvBuf,
        allowHalfOpen: false,
    };
    const cfg = { ...base, ...stripUndefined(overrides) };
    // RFC 1122 4.2.3.2: the delayed-ACK delay MUST be less than 0.5 s; we cap at 200 ms.
    cfg.delayedAckMs = Math.max(0, Math.min(200, cfg.delayedAckMs));
    return cfg;
}
function stripUndefined(o) {
    const out = {};
    for (const [k, v] of Object.entries(o))
        if (v !== undefined)
            out[k] = v;
    return out;
}
