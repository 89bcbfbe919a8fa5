// The signaling WebSocket (docs/signaling.md, protocol rapport.signal.v1) and the WebRTC call
// over it, with the perfect-negotiation pattern: the clinician is impolite, clients polite.

import { api } from "./api.js";

export const SUBPROTOCOL = "rapport.signal.v1";
const PING_EVERY_MS = 30_000;
// Close codes after which trying again makes sense: signaling does not know the session yet
// (4004, right after booking), its join window has not opened (4425), or a server or the
// network broke off (1006 abnormal, 1011 server error, 1012 restart, 1013 try again later).
const RETRY_CODES = new Set([4004, 4425, 1006, 1011, 1012, 1013]);
const TRANSIENT_RETRIES = 5;
// How long a call may sit with no connection attempt before the impolite side offers again.
const RENEGOTIATE_AFTER_MS = 10_000;

export const CLOSE_REASONS = {
  1000: "You left the session.",
  4001: "Your sign-in for this session expired. Reload the page to try again.",
  4003: "You cannot join this session.",
  4004: "This session is not known yet.",
  4008: "The session has ended.",
  4010: "You joined this session from another window.",
  4408: "The connection was idle for too long.",
  4410: "This session's time has passed.",
  4425: "This session is not open yet.",
};

/** One signaling connection for one session: join, then typed messages as events. */
export class Signaling extends EventTarget {
  constructor(sessionId, displayName) {
    super();
    this.sessionId = sessionId;
    this.displayName = displayName;
    this.socket = null;
    this.closed = false;
    this.pinger = null;
  }

  /** Connects and joins; resolves with the first answer (`waiting` or `joined`). Retries while
   * signaling does not know the session yet or its window is not open. */
  async open({ retryForMs = 60_000 } = {}) {
    const deadline = Date.now() + retryForMs;
    let transient = 0;
    for (;;) {
      try {
        return await this.#connectOnce();
      } catch (error) {
        if (error.code < 4000 && ++transient > TRANSIENT_RETRIES) throw error;
        if (!RETRY_CODES.has(error.code) || Date.now() > deadline || this.closed) throw error;
        this.dispatchEvent(new CustomEvent("retrying", { detail: error }));
        await new Promise((resolve) => setTimeout(resolve, error.code === 4425 ? 15_000 : 1_000));
      }
    }
  }

  async #connectOnce() {
    const { token } = await api("/v1/signaling-tokens", {
      method: "POST",
      body: { session_id: this.sessionId },
    });
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/v1/signal?session_id=${encodeURIComponent(this.sessionId)}`;
    const socket = new WebSocket(url, SUBPROTOCOL);
    this.socket = socket;
    return new Promise((resolve, reject) => {
      let settled = false;
      socket.addEventListener("open", () => {
        socket.send(JSON.stringify({ type: "join", token, display_name: this.displayName }));
      });
      socket.addEventListener("message", (event) => {
        const message = JSON.parse(event.data);
        if (!settled && (message.type === "waiting" || message.type === "joined")) {
          settled = true;
          this.#startPinging();
          resolve(message);
        }
        this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
        this.dispatchEvent(new CustomEvent("message", { detail: message }));
      });
      socket.addEventListener("close", (event) => {
        clearInterval(this.pinger);
        if (!settled) {
          settled = true;
          const error = new Error(CLOSE_REASONS[event.code] || `connection closed (${event.code})`);
          error.code = event.code;
          reject(error);
          return;
        }
        if (this.socket === socket) {
          this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code, reason: event.reason } }));
        }
      });
    });
  }

  #startPinging() {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
  }

  on(type, listener) {
    this.addEventListener(type, (event) => listener(event.detail));
  }

  /** The next message of `type`, as a promise. */
  next(type) {
    return new Promise((resolve) => this.addEventListener(type, (event) => resolve(event.detail), { once: true }));
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  async iceServers() {
    const answer = this.next("ice-servers");
    this.send({ type: "get-ice-servers" });
    const timeout = new Promise((resolve) => setTimeout(() => resolve({ ice_servers: [] }), 3000));
    return (await Promise.race([answer, timeout])).ice_servers;
  }

  close(leave = true) {
    this.closed = true;
    clearInterval(this.pinger);
    if (leave) this.send({ type: "leave" });
    this.socket?.close(1000);
  }
}

/** A WebRTC call with one other member, negotiated perfectly over `signaling`. */
export class Call extends EventTarget {
  constructor(signaling, { peerId, polite, localStream, iceServers = [] }) {
    super();
    this.signaling = signaling;
    this.peerId = peerId;
    this.polite = polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.reportedConnected = false;
    this.remoteStream = new MediaStream();
    this.pc = new RTCPeerConnection({ iceServers });
    this.lastBytes = null;
    this.statsTimer = null;
    this.lastStatsSent = 0;
    this.chain = Promise.resolve();

    const pc = this.pc;
    for (const track of localStream?.getTracks() || []) pc.addTrack(track, localStream);
    pc.addEventListener("track", ({ track, streams }) => {
      const stream = streams[0] || this.remoteStream;
      if (!streams[0]) this.remoteStream.addTrack(track);
      this.remoteStream = stream;
      this.dispatchEvent(new CustomEvent("remote-stream", { detail: stream }));
    });
    pc.addEventListener("negotiationneeded", async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.signaling.send({ type: "offer", sdp: pc.localDescription.sdp, to: this.peerId });
      } catch (error) {
        console.warn("offer failed", error);
      } finally {
        this.makingOffer = false;
      }
    });
    pc.addEventListener("icecandidate", ({ candidate }) => {
      this.signaling.send({ type: "ice-candidate", candidate: candidate ? candidate.toJSON() : null, to: this.peerId });
    });
    pc.addEventListener("connectionstatechange", () => {
      this.dispatchEvent(new CustomEvent("state", { detail: pc.connectionState }));
      if (pc.connectionState === "connected" && !this.reportedConnected) {
        this.reportedConnected = true;
        this.signaling.send({ type: "connected" });
      }
      if (pc.connectionState === "failed" && !this.polite) pc.restartIce();
    });
    this.statsTimer = setInterval(() => this.#sample(), 2000);
    // A lost offer (sent while the other side was still setting up, or dropped by a network
    // blip) would leave both peers idle forever; the impolite side offers again until the
    // connection starts, which perfect negotiation makes safe.
    this.renegotiator = setInterval(() => this.#offerAgainIfIdle(), RENEGOTIATE_AFTER_MS);
  }

  async #offerAgainIfIdle() {
    const pc = this.pc;
    if (pc.connectionState !== "new" || pc.iceConnectionState !== "new") {
      clearInterval(this.renegotiator);
      return;
    }
    if (this.polite || this.makingOffer || pc.signalingState === "closed") return;
    console.warn("no connection yet; offering again");
    try {
      // An offer still waiting for its answer this long was lost: take it back first.
      if (pc.signalingState === "have-local-offer") await pc.setLocalDescription({ type: "rollback" });
      pc.restartIce();
    } catch (error) {
      console.warn("offering again failed", error);
    }
  }

  /** Takes a relayed offer, answer or ICE candidate; they are applied one at a time, in order. */
  handle(message) {
    this.chain = this.chain.then(() => this.receive(message));
    return this.chain;
  }

  async receive(message) {
    const pc = this.pc;
    try {
      if (message.type === "offer" || message.type === "answer") {
        const description = { type: message.type, sdp: message.sdp };
        const collision = description.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        await pc.setRemoteDescription(description); // a polite peer rolls back its own offer
        if (description.type === "offer") {
          await pc.setLocalDescription();
          this.signaling.send({ type: "answer", sdp: pc.localDescription.sdp, to: this.peerId });
        }
      } else if (message.type === "ice-candidate") {
        try {
          await pc.addIceCandidate(message.candidate || undefined);
        } catch (error) {
          if (!this.ignoreOffer) throw error;
        }
      }
    } catch (error) {
      console.warn("negotiation error", error);
    }
  }

  /** After the peer came back on a new connection: the impolite side restarts ICE. */
  restart() {
    if (!this.polite) this.pc.restartIce();
  }

  setTrackEnabled(kind, enabled) {
    for (const sender of this.pc.getSenders()) {
      if (sender.track?.kind === kind) sender.track.enabled = enabled;
    }
  }

  async #sample() {
    if (this.pc.connectionState === "closed") return;
    const report = await this.pc.getStats();
    let rtt = null;
    let lost = 0;
    let received = 0;
    let jitter = null;
    let bytes = 0;
    let framesDecoded = 0;
    report.forEach((stat) => {
      if (stat.type === "candidate-pair" && stat.nominated && stat.currentRoundTripTime !== undefined) {
        rtt = stat.currentRoundTripTime * 1000;
      }
      if (stat.type === "inbound-rtp") {
        lost += stat.packetsLost || 0;
        received += stat.packetsReceived || 0;
        bytes += stat.bytesReceived || 0;
        if (stat.kind === "video") {
          framesDecoded += stat.framesDecoded || 0;
          jitter = stat.jitter !== undefined ? stat.jitter * 1000 : jitter;
        }
      }
    });
    const now = performance.now();
    let bitrate = null;
    if (this.lastBytes) bitrate = ((bytes - this.lastBytes.bytes) * 8) / (now - this.lastBytes.at);
    this.lastBytes = { bytes, at: now };
    const loss = lost + received > 0 ? lost / (lost + received) : 0;
    const sample = { round_trip_ms: rtt, packet_loss: loss, jitter_ms: jitter, bitrate_kbps: bitrate, framesDecoded };
    let quality = "connecting";
    if (this.pc.connectionState === "connected") {
      quality = loss > 0.1 || (rtt ?? 0) > 600 ? "poor" : loss > 0.03 || (rtt ?? 0) > 250 ? "fair" : "good";
    }
    this.dispatchEvent(new CustomEvent("quality", { detail: { quality, ...sample } }));
    if (this.pc.connectionState === "connected" && now - this.lastStatsSent > 10_000) {
      this.lastStatsSent = now;
      const stats = { type: "stats", packet_loss: Math.min(1, Math.max(0, loss)) };
      if (rtt !== null) stats.round_trip_ms = rtt;
      if (jitter !== null) stats.jitter_ms = jitter;
      if (bitrate !== null && bitrate >= 0) stats.bitrate_kbps = bitrate;
      this.signaling.send(stats);
    }
  }

  close() {
    clearInterval(this.statsTimer);
    clearInterval(this.renegotiator);
    this.pc.close();
  }
}

/** Camera and microphone, or null (with the reason) when the browser refuses. */
export async function openDevices() {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } }) };
  } catch (error) {
    return { stream: null, error };
  }
}

/** A quality label for people, from a `quality` event. */
export function qualityText(detail) {
  const labels = { good: "Connection: good", fair: "Connection: fair", poor: "Connection: poor", connecting: "Connecting…" };
  return labels[detail.quality] || "Connecting…";
}
