import { SlottedMaxFilter } from './minmax.js';
export const BBR = {
    STARTUP_PACING_GAIN: 4 * Math.LN2, // 2.77: doubles the sending rate each round
    STARTUP_CWND_GAIN: 2,
    DRAIN_PACING_GAIN: 0.35,
    DEFAULT_CWND_GAIN: 2,
    PROBE_UP_CWND_GAIN: 2.25,
    PROBE_DOWN_PACING_GAIN: 0.9,
    PROBE_UP_PACING_GAIN: 1.25,
    PACING_MARGIN: 0.01,
    LOSS_THRESH: 0.02,
    BETA: 0.7,
    HEADROOM: 0.15,
    FULL_BW_THRESH: 1.25,
    FULL_BW_COUNT: 3,
    STARTUP_FULL_LOSS_COUNT: 6,
    MIN_PIPE_CWND_SEGMENTS: 4,
    MAX_BW_FILTER_CYCLES: 2,
    MIN_RTT_FILTER_LEN: 10_000,
    PROBE_RTT_INTERVAL: 5_000,
    PROBE_RTT_DURATION: 200,
    PROBE_WAIT_BASE: 2_000,
    PROBE_WAIT_RAND: 1_000,
    MAX_RENO_ROUNDS: 63,
};
export class Bbr {
    name = 'bbr';
    recoveryStyle = 'newreno';
    state = 'Startup';
    pacingGain = BBR.STARTUP_PACING_GAIN;
    cwndGain = BBR.STARTUP_CWND_GAIN;
    mss;
    cwndBytes;
    priorCwnd = 0;
    pacing;
    initialCwnd;
    pristine = true;
    iwSegments;
    // Model.
    maxBwFilter = new SlottedMaxFilter(BBR.MAX_BW_FILTER_CYCLES);
    cycleCount = 0;
    maxBw = 0;
    bwLo = Infinity;
    inflightHi = Infinity;
    inflightLo = Infinity;
    bwLatest = 0;
    inflightLatest = 0;
    minRtt = Infinity;
    minRttStamp = 0;
    probeRttMinDelay = Infinity;
    probeRttMinStamp;
    // Rounds.
    roundCount = 0;
    roundStart = false;
    nextRoundDelivered = 0;
    roundStartInFlight = 0;
    /** Bytes delivered, summed from AckEvent.bytesAcked (newly acked or SACKed). */
    totalDelivered = 0;
    // Startup exit.
    filledPipe = false;
    fullBw = 0;
    fullBwCount = 0;
    // Congestion signals of the current round.
    lossInRound = false;
    lostInRound = 0;
    lossRoundTooHigh = false;
    // ProbeBW.
    cycleStamp = 0;
    bwProbeWait = 0;
    roundsSinceBwProbe = 0;
    roundsInPhase = 0;
    probeUpRounds = 0;
    rng = 0x2545f491;
    // ProbeRTT.
    probeRttDoneStamp = 0;
    probeRttRoundDone = false;
    // Recovery.
    inRecovery = false;
    packetConservation = false;
    conservationEndDelivered = 0;
    // Inputs.
    pendingSample;
    stashedAck;
    /** (time, totalDelivered) after each ACK, oldest first from logHead. */
    deliveredLog = [];
    logHead = 0;
    gotRateSamples = false;
    pacingInitialized = false;
    constructor(opts) {
        this.mss = opts.mss;
        this.iwSegments = Math.max(1, Math.floor(opts.initialWindowSegments));
        this.initialCwnd = this.iwSegments * this.mss;
        this.cwndBytes = this.initialCwnd;
        this.probeRttMinStamp = opts.now;
        this.minRttStamp = opts.now;
        // BBRInitPacingRate: nominal bandwidth = InitialCwnd / 1 ms (no RTT known yet).
        this.pacing = BBR.STARTUP_PACING_GAIN * this.initialCwnd / 0.001;
    }
    get cwnd() {
        return Math.floor(this.cwndBytes);
    }
    get ssthresh() {
        // BBR has no ssthresh; report Infinity in Startup and the model's BDP after it, which is
        // what Linux shows in ss(8).
        return this.filledPipe ? Math.max(this.bdp(1), this.minPipeCwnd) : Infinity;
    }
    /** Estimated bandwidth used by the model: min(max_bw, bw_lo). */
    get bw() {
        return Math.min(this.maxBw, this.bwLo);
    }
    pacingRate() {
        return this.pacing;
    }
    get minPipeCwnd() {
        return BBR.MIN_PIPE_CWND_SEGMENTS * this.mss;
    }
    /** BBRBDPMultiple / BBRInflight: gain * bw * min_rtt (InitialCwnd before any sample). */
    bdp(gain) {
        if (!Number.isFinite(this.minRtt) || this.bw === 0)
            return this.initialCwnd;
        return gain * this.bw * (this.minRtt / 1000);
    }
    random() {
        // xorshift32, fixed seed: deterministic runs.
        let x = this.rng;
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        this.rng = x;
        return x / 0x100000000;
    }
    onAck(ev) {
        if (ev.bytesAcked <= 0)
            return;
        this.pristine = false;
        if (!this.pacingInitialized && ev.srtt > 0) {
            // BBRInitPacingRate once the handshake RTT is known: InitialCwnd / SRTT.
            this.pacingInitialized = true;
            if (this.maxBw === 0)
                this.pacing = BBR.STARTUP_PACING_GAIN * this.initialCwnd / (ev.srtt / 1000);
        }
        this.flushStashedAck();
        this.totalDelivered += ev.bytesAcked;
        this.logDelivered(ev.now);
        const rs = this.pendingSample;
        if (rs) {
            // The connection delivered the rate sample first.
            this.pendingSample = undefined;
            this.update(ev, rs);
        }
        else {
            // Wait for this ACK's rate sample (onRateSample normally follows at once).
            this.stashedAck = ev;
        }
    }
    onRateSample(s) {
        this.gotRateSamples = true;
        const ev = this.stashedAck;
        if (ev) {
            this.stashedAck = undefined;
            this.update(ev, s);
        }
        else {
            this.pendingSample = s;
        }
    }
    /** An ACK that got no rate sample: cwnd bookkeeping only (or the fallback estimate). */
    flushStashedAck() {
        const ev = this.stashedAck;
        if (!ev)
            return;
        this.stashedAck = undefined;
        this.update(ev, this.gotRateSamples ? undefined : this.fallbackSample(ev));
    }
    /** BBRUpdateOnACK: the model and state from a rate sample, then the control parameters. */
    update(ev, sample) {
        const rs = sample && this.sanitize(ev, sample);
        if (rs) {
            // BBRUpdateModelAndState
            this.updateRound(ev);
            this.updateMaxBw(rs);
            this.updateLatestDeliverySignals(rs);
            this.updateCongestionSignals(rs);
            this.checkStartupDone(rs);
            this.checkDrainDone(ev);
            this.updateProbeBwCyclePhase(ev, rs);
            this.updateMinRtt(ev);
            this.checkProbeRtt(ev);
            this.advanceLatestDeliverySignals(rs);
        }
        // BBRUpdateControlParameters
        this.setPacingRate();
        this.setCwnd(ev, rs?.lost ?? 0);
    }
    /** Remember (time, bytes delivered so far) for the windows below; ~20 s of history. */
    logDelivered(now) {
        const log = this.deliveredLog;
        const last = log[log.length - 1];
        if (last && last.t === now)
            last.d = this.totalDelivered;
        else
            log.push({ t: now, d: this.totalDelivered });
        while (this.logHead < log.length - 1 && log[this.logHead].t < now - 20_000)
            this.logHead++;
        if (this.logHead > 4096) {
            log.splice(0, this.logHead);
            this.logHead = 0;
        }
    }
    /** Bytes delivered (per the ACKs) up to and including time t. */
    deliveredAt(t) {
        const log = this.deliveredLog;
        let lo = this.logHead;
        let hi = log.length - 1;
        if (hi < lo || log[lo].t > t)
            return this.logHead === 0 ? 0 : log[lo].d;
        while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (log[mid].t <= t)
                lo = mid;
            else
                hi = mid - 1;
        }
        return log[lo].d;
    }
    /**
     * A sample cannot have delivered more in its interval than the ACKs reported over the same
     * interval (the interval is at least the ACK-side elapsed time of the draft). Holding it to
     * that is a no-op for a correct estimator and keeps one over-counting sample from inflating
     * max_bw for two whole ProbeBW cycles.
     */
    sanitize(ev, rs) {
        const cap = this.totalDelivered - this.deliveredAt(ev.now - rs.interval);
        if (rs.delivered <= cap || !(rs.interval > 0))
            return rs;
        return { ...rs, delivered: cap, deliveryRate: (cap * 1000) / rs.interval };
    }
    /** Used only if the connection provides no RateSamples: ACK rate over ~one min_rtt. */
    fallbackSample(ev) {
        const span = ev.minRtt > 0 ? ev.minRtt : ev.srtt > 0 ? ev.srtt : 1;
        const first = this.deliveredLog[this.logHead];
        const interval = Math.min(span, ev.now - (first?.t ?? ev.now));
        if (!(interval > 0))
            return undefined;
        const delivered = this.totalDelivered - this.deliveredAt(ev.now - interval);
        return {
            now: ev.now, deliveryRate: (delivered * 1000) / interval, delivered, interval,
            rtt: ev.rttSample ?? -1, lost: 0, priorInFlight: ev.priorInFlight, inFlight: ev.inFlight,
            isAppLimited: ev.appLimited, totalDelivered: this.totalDelivered,
        };
    }
    /** Rounds are counted with our own delivered count (see the file comment). */
    updateRound(ev) {
        this.roundStart = false;
        if (this.totalDelivered >= this.nextRoundDelivered) {
            this.roundStart = true;
            this.roundCount++;
            this.roundsSinceBwProbe++;
            this.roundsInPhase++;
            this.nextRoundDelivered = this.totalDelivered + ev.inFlight;
            this.roundStartInFlight = ev.inFlight;
        }
    }
    updateMaxBw(rs) {
        // Application-limited samples only count if they raise the estimate.
        if (rs.deliveryRate > 0 && (rs.deliveryRate >= this.maxBw || !rs.isAppLimited)) {
            this.maxBw = this.maxBwFilter.update(rs.deliveryRate);
        }
    }
    updateLatestDeliverySignals(rs) {
        this.bwLatest = Math.max(this.bwLatest, rs.deliveryRate);
        this.inflightLatest = Math.max(this.inflightLatest, rs.delivered);
    }
    advanceLatestDeliverySignals(rs) {
        if (!this.roundStart)
            return;
        this.bwLatest = rs.deliveryRate;
        this.inflightLatest = rs.delivered;
    }
    isProbingBw() {
        return this.state === 'Startup' || this.state === 'ProbeBW_REFILL' || this.state === 'ProbeBW_UP';
    }
    /** BBRUpdateCongestionSignals + BBRCheckInflightTooHigh. */
    updateCongestionSignals(rs) {
        if (rs.lost > 0) {
            this.lossInRound = true;
            this.lostInRound += rs.lost;
        }
        const roundFlight = Math.max(this.roundStartInFlight, this.mss);
        const tooHigh = this.lostInRound > BBR.LOSS_THRESH * roundFlight && this.lostInRound > 0;
        this.lossRoundTooHigh = tooHigh;
        if (tooHigh && (this.state === 'ProbeBW_REFILL' || this.state === 'ProbeBW_UP')) {
            // Probing found the loss threshold: remember the safe inflight and stop probing.
            if (!rs.isAppLimited)
                this.inflightHi = Math.max(this.roundStartInFlight, BBR.BETA * this.bdp(1));
            if (this.state === 'ProbeBW_UP')
                this.startProbeBwDown(rs.now);
        }
        if (this.state === 'Startup' && tooHigh && this.lostInRound >= BBR.STARTUP_FULL_LOSS_COUNT * this.mss) {
            // BBRv3 Startup exit on excessive loss.
            this.filledPipe = true;
            this.inflightHi = Math.max(this.bdp(1), this.inflightLatest);
        }
        if (!this.roundStart)
            return;
        // Once per round: adapt the lower bounds to a round whose loss exceeded the threshold
        // (not while probing). Linux BBRv3 reacts to any loss here; gating on LOSS_THRESH keeps
        // random loss below 2% from ratcheting the lower bounds down between probes.
        if (this.lossInRound && this.lossRoundTooHigh && !this.isProbingBw()) {
            if (!Number.isFinite(this.bwLo))
                this.bwLo = this.maxBw;
            if (!Number.isFinite(this.inflightLo))
                this.inflightLo = this.cwndBytes;
            this.bwLo = Math.max(this.bwLatest, BBR.BETA * this.bwLo);
            this.inflightLo = Math.max(this.inflightLatest, BBR.BETA * this.inflightLo);
        }
        this.lossInRound = false;
        this.lostInRound = 0;
    }
    resetLowerBounds() {
        this.bwLo = Infinity;
        this.inflightLo = Infinity;
    }
    /** BBRCheckStartupFullBandwidth: 3 rounds without 25% growth. */
    checkStartupDone(rs) {
        if (this.state !== 'Startup')
            return;
        if (!this.filledPipe && this.roundStart && !rs.isAppLimited) {
            if (this.maxBw >= this.fullBw * BBR.FULL_BW_THRESH) {
                this.fullBw = this.maxBw;
                this.fullBwCount = 0;
            }
            else if (++this.fullBwCount >= BBR.FULL_BW_COUNT) {
                this.filledPipe = true;
            }
        }
        if (this.filledPipe)
            this.enter('Drain', BBR.DRAIN_PACING_GAIN, BBR.STARTUP_CWND_GAIN);
    }
    checkDrainDone(ev) {
        if (this.state === 'Drain' && ev.inFlight <= this.bdp(1))
            this.startProbeBwDown(ev.now);
    }
    enter(state, pacingGain, cwndGain) {
        this.state = state;
        this.pacingGain = pacingGain;
        this.cwndGain = cwndGain;
        this.roundsInPhase = 0;
    }
    startProbeBwDown(now) {
        // A new ProbeBW cycle: advance the max-bandwidth filter's clock (2-cycle window).
        this.cycleCount++;
        this.maxBwFilter.advance();
        this.roundsSinceBwProbe = 0;
        this.bwProbeWait = BBR.PROBE_WAIT_BASE + this.random() * BBR.PROBE_WAIT_RAND;
        this.cycleStamp = now;
        this.enter('ProbeBW_DOWN', BBR.PROBE_DOWN_PACING_GAIN, BBR.DEFAULT_CWND_GAIN);
    }
    /** The number of rounds a Reno flow would need to grow by one BDP (capped at 63). */
    isRenoCoexistenceProbeTime() {
        const renoRounds = Math.min(this.bdp(1) / this.mss, BBR.MAX_RENO_ROUNDS);
        return this.roundsSinceBwProbe >= renoRounds;
    }
    isTimeToProbeBw(now) {
        return now - this.cycleStamp > this.bwProbeWait || this.isRenoCoexistenceProbeTime();
    }
    inflightWithHeadroom() {
        if (!Number.isFinite(this.inflightHi))
            return Infinity;
        return Math.max((1 - BBR.HEADROOM) * this.inflightHi, this.minPipeCwnd);
    }
    updateProbeBwCyclePhase(ev, rs) {
        if (!this.filledPipe)
            return;
        switch (this.state) {
            case 'ProbeBW_DOWN':
                if (this.isTimeToProbeBw(ev.now))
                    this.startProbeBwRefill();
                else if (ev.inFlight <= this.inflightWithHeadroom() && ev.inFlight <= this.bdp(1)) {
                    this.enter('ProbeBW_CRUISE', 1, BBR.DEFAULT_CWND_GAIN);
                }
                break;
            case 'ProbeBW_CRUISE':
                if (this.isTimeToProbeBw(ev.now))
                    this.startProbeBwRefill();
                break;
            case 'ProbeBW_REFILL':
                // One round at the estimated bandwidth refills the pipe before probing above it.
                if (this.roundStart) {
                    this.enter('ProbeBW_UP', BBR.PROBE_UP_PACING_GAIN, BBR.PROBE_UP_CWND_GAIN);
                    this.probeUpRounds = 0;
                    this.fullBw = this.maxBw;
                    this.fullBwCount = 0;
                }
                break;
            case 'ProbeBW_UP':
                if (this.roundStart) {
                    this.probeUpRounds++;
                    const limitedByHi = Number.isFinite(this.inflightHi) && ev.priorInFlight >= this.inflightHi - this.mss;
                    if (limitedByHi) {
                        // BBRProbeInflightHiUpward: inflight_hi is what limits the probe, so raise it
                        // with a slope that doubles each round (1, 2, 4 ... packets), and do not take
                        // the bandwidth plateau as "pipe full" yet.
                        this.inflightHi += this.mss * 2 ** Math.min(this.probeUpRounds - 1, 10);
                        this.fullBw = this.maxBw;
                        this.fullBwCount = 0;
                    }
                    else if (this.maxBw >= this.fullBw * BBR.FULL_BW_THRESH) {
                        this.fullBw = this.maxBw;
                        this.fullBwCount = 0;
                    }
                    else {
                        this.fullBwCount++;
                    }
                }
                // BBRIsTimeToGoDown: the estimated bandwidth has plateaued for FULL_BW_COUNT rounds
                // (the pipe is full); loss above the threshold ends the probe earlier (see
                // updateCongestionSignals).
                if (this.fullBwCount >= BBR.FULL_BW_COUNT)
                    this.startProbeBwDown(ev.now);
                break;
            default:
                break;
        }
    }
    startProbeBwRefill() {
        this.resetLowerBounds();
        this.roundsSinceBwProbe = 0;
        this.enter('ProbeBW_REFILL', 1, BBR.DEFAULT_CWND_GAIN);
    }
    updateMinRtt(ev) {
        // The ACK's RTT sample obeys Karn's rule (or comes from timestamps); rs.rtt may be
        // measured from a retransmission and read far too low, which would poison min_rtt.
        const rtt = ev.rttSample;
        const probeRttExpired = ev.now > this.probeRttMinStamp + BBR.PROBE_RTT_INTERVAL;
        if (rtt !== undefined && rtt > 0 && (rtt < this.probeRttMinDelay || probeRttExpired)) {
            this.probeRttMinDelay = rtt;
            this.probeRttMinStamp = ev.now;
        }
        const minRttExpired = ev.now > this.minRttStamp + BBR.MIN_RTT_FILTER_LEN;
        if (this.probeRttMinDelay < this.minRtt || minRttExpired) {
            this.minRtt = this.probeRttMinDelay;
            this.minRttStamp = this.probeRttMinStamp;
        }
        this.probeRttExpiredNow = probeRttExpired;
    }
    probeRttExpiredNow = false;
    checkProbeRtt(ev) {
        if (this.state !== 'ProbeRTT' && this.probeRttExpiredNow) {
            this.priorCwnd = this.saveCwnd();
            this.enter('ProbeRTT', 1, 1);
            this.probeRttDoneStamp = 0;
        }
        if (this.state !== 'ProbeRTT')
            return;
        if (this.probeRttDoneStamp === 0 && ev.inFlight <= this.minPipeCwnd) {
            // Inflight is down to the ProbeRTT cwnd: hold it for 200 ms and one round.
            this.probeRttDoneStamp = ev.now + BBR.PROBE_RTT_DURATION;
            this.probeRttRoundDone = false;
            this.nextRoundDelivered = this.totalDelivered + ev.inFlight;
        }
        else if (this.probeRttDoneStamp !== 0) {
            if (this.roundStart)
                this.probeRttRoundDone = true;
            if (this.probeRttRoundDone && ev.now > this.probeRttDoneStamp) {
                this.probeRttMinStamp = ev.now;
                this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
                this.resetLowerBounds();
                if (this.filledPipe) {
                    this.startProbeBwDown(ev.now);
                    this.enter('ProbeBW_CRUISE', 1, BBR.DEFAULT_CWND_GAIN);
                }
                else {
                    this.enter('Startup', BBR.STARTUP_PACING_GAIN, BBR.STARTUP_CWND_GAIN);
                }
            }
        }
    }
    saveCwnd() {
        return this.inRecovery || this.state === 'ProbeRTT' ? Math.max(this.priorCwnd, this.cwndBytes) : this.cwndBytes;
    }
    /** BBRSetPacingRate: only increases in Startup (before the pipe is known to be full). */
    setPacingRate() {
        const bw = this.bw;
        if (bw <= 0)
            return;
        const rate = this.pacingGain * bw * (1 - BBR.PACING_MARGIN);
        if (this.filledPipe || rate > this.pacing)
            this.pacing = rate;
    }
    /** BBRSetCwnd with BBRModulateCwndForRecovery and the ProbeRTT / model bounds. */
    setCwnd(ev, lost) {
        const quantum = Math.min(Math.max(this.pacing * 0.001, 2 * this.mss), 64 * 1024);
        let maxInflight = this.bdp(this.cwndGain) + 3 * quantum;
        if (this.state === 'ProbeBW_UP')
            maxInflight += 2 * this.mss;
        if (lost > 0 && this.inRecovery)
            this.cwndBytes = Math.max(this.cwndBytes - lost, this.mss);
        if (this.packetConservation) {
            if (this.totalDelivered >= this.conservationEndDelivered)
                this.packetConservation = false;
            else
                this.cwndBytes = Math.max(this.cwndBytes, ev.inFlight + ev.bytesAcked);
        }
        if (!this.packetConservation) {
            if (this.filledPipe)
                this.cwndBytes = Math.min(this.cwndBytes + ev.bytesAcked, maxInflight);
            else if (this.cwndBytes < maxInflight || this.totalDelivered < this.initialCwnd)
                this.cwndBytes += ev.bytesAcked;
            this.cwndBytes = Math.max(this.cwndBytes, this.minPipeCwnd);
        }
        // BBRBoundCwndForProbeRTT
        if (this.state === 'ProbeRTT')
            this.cwndBytes = Math.min(this.cwndBytes, this.minPipeCwnd);
        // BBRBoundCwndForModel
        let cap = Infinity;
        if (this.state.startsWith('ProbeBW') && this.state !== 'ProbeBW_CRUISE')
            cap = this.inflightHi;
        else if (this.state === 'ProbeRTT' || this.state === 'ProbeBW_CRUISE')
            cap = this.inflightWithHeadroom();
        cap = Math.max(Math.min(cap, this.inflightLo), this.minPipeCwnd);
        this.cwndBytes = Math.max(Math.min(this.cwndBytes, cap), this.mss);
    }
    onCongestion(ev) {
        this.pristine = false;
        if (ev.kind === 'rto') {
            // BBROnEnterRTO: remember the window, restart from one packet.
            this.priorCwnd = this.saveCwnd();
            this.cwndBytes = this.mss;
            this.inRecovery = false;
            this.packetConservation = false;
            return;
        }
        if (this.inRecovery)
            return;
        // BBROnEnterFastRecovery: packet conservation for one round.
        this.priorCwnd = this.saveCwnd();
        this.inRecovery = true;
        this.packetConservation = true;
        this.conservationEndDelivered = this.totalDelivered + ev.inFlight;
        this.cwndBytes = Math.max(Math.min(this.cwndBytes, ev.inFlight + this.mss), this.minPipeCwnd);
    }
    onRecoveryExit(_now) {
        // BBRRestoreCwnd
        this.inRecovery = false;
        this.packetConservation = false;
        this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
    }
    onSpuriousCongestion(_now) {
        this.onRecoveryExit(_now);
    }
    setMss(mss) {
        if (!(mss > 0) || mss === this.mss)
            return;
        if (this.pristine)
            this.cwndBytes = this.iwSegments * mss;
        else
            this.cwndBytes = Math.max(mss, (this.cwndBytes / this.mss) * mss);
        this.mss = mss;
    }
}
