// The signaling WebSocket (docs/signaling.md, protocol rapport.signal.v1) and the WebRTC call
// over it, with the perfect-negotiation pattern: the clinician is impolite, clients polite.

import { api } from "./api.js";
import { CLOSE_CODES, CLOSE_REASONS, SUBPROTOCOL } from "./protocol.js";

const PING_EVERY_MS = 30_000;
// Close codes after which trying again makes sense: signaling does not know the session yet
// (right after booking), its join window has not opened, or a server or the network broke off
// (1006 abnormal, 1011 server error, 1012 restart, 1013 try again later).
const RETRY_CODES = new Set([CLOSE_CODES.UNKNOWN_SESSION, CLOSE_CODES.TOO_EARLY, 1006, 1011, 1012, 1013]);
const TRANSIENT_RETRIES = 5;
// Close codes after which a joined socket reconnects by itself and resumes its place (the
// room moved, signaling restarted or died, the network broke off): docs/signaling.md.
const RESUME_CODES = new Set([CLOSE_CODES.MOVED, 1001, 1006, 1011, 1012, 1013, 1014]);
const RESUME_FOR_MS = 60_000;

/** One signaling connection for one session: join, then typed messages as events. */
export class Signaling extends EventTarget {
  /** `token`: where each connection's join token comes from (a guest's page passes the guest
   * token it holds); by default a fresh signaling token for the signed-in user. */
  constructor(sessionId, displayName, { token } = {}) {
    super();
    this.sessionId = sessionId;
    this.displayName = displayName;
    this.token = token || (async () => (await api("/v1/signaling-tokens", { method: "POST", body: { session_id: sessionId } })).token);
    this.socket = null;
    this.closed = false;
    this.pinger = null;
    // From the first `waiting` or `joined`: sent as `join.resume` to come back to our place.
    this.resumeToken = null;
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
        await new Promise((resolve) => setTimeout(resolve, error.code === CLOSE_CODES.TOO_EARLY ? 15_000 : 1_000));
      }
    }
  }

  async #connectOnce() {
    const token = await this.token();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/v1/signal?session_id=${encodeURIComponent(this.sessionId)}`;
    const socket = new WebSocket(url, SUBPROTOCOL);
    this.socket = socket;
    return new Promise((resolve, reject) => {
      let settled = false;
      socket.addEventListener("open", () => {
        const join = { type: "join", token, display_name: this.displayName };
        if (this.resumeToken) join.resume = this.resumeToken;
        socket.send(JSON.stringify(join));
      });
      socket.addEventListener("message", (event) => {
        const message = JSON.parse(event.data);
        // A refused message is otherwise silent, and in a call it may be a lost offer or answer.
        // `not-admitted` is expected news: what this page sent before it heard it was sent back.
        if (message.type === "error") {
          const report = message.code === "not-admitted" ? console.info : console.warn;
          report(`signaling refused a message: ${message.code}: ${message.message}`);
        }
        if (message.resume_token) this.resumeToken = message.resume_token;
        if (!settled && (message.type === "waiting" || message.type === "joined")) {
          settled = true;
          this.#startPinging();
          resolve(message);
          // Put back where we were: the page is already there, nothing to redo.
          if (message.resumed) {
            this.dispatchEvent(new CustomEvent("resumed", { detail: message }));
            return;
          }
        }
        if (message.type === "move") return; // the close that follows (MOVED) reconnects
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
        if (this.socket !== socket) return;
        if (!this.closed && this.resumeToken && RESUME_CODES.has(event.code)) {
          this.#resume(event);
          return;
        }
        this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code, reason: event.reason } }));
      });
    });
  }

  /** The socket broke off (or the room moved): reconnect through the gateway, with backoff,
   * and resume; the call's media is not touched meanwhile. */
  async #resume(event) {
    this.dispatchEvent(new CustomEvent("reconnecting", { detail: { code: event.code } }));
    const deadline = Date.now() + RESUME_FOR_MS;
    let delay = event.code === CLOSE_CODES.MOVED ? 0 : 250;
    while (!this.closed) {
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)));
      try {
        await this.#connectOnce();
        return;
      } catch (error) {
        if (Date.now() > deadline || !(RESUME_CODES.has(error.code) || error.code === undefined)) {
          this.dispatchEvent(new CustomEvent("closed", { detail: { code: error.code ?? 1006, reason: "" } }));
          return;
        }
        delay = Math.min(Math.max(delay * 2, 250), 4_000);
      }
    }
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

/** A WebRTC call with one other member, negotiated perfectly over `signaling`.
 *
 * The impolite side (the clinician) makes the first offer, from start(); the polite side
 * answers it and offers only for changes after that. Every offer is made on the same queue
 * that applies the other side's descriptions, so the two never overlap.
 *
 * Why: both sides used to offer as soon as their tracks were added (`negotiationneeded`), so
 * every call began with both offers crossing. When the clinician's offer reached the client
 * while the client's own setLocalDescription(offer) was still under way, the polite rollback
 * hit that unfinished offer, and the client's page then sent no ICE candidate at all: both
 * sides ended "stable" with ICE "new", and the clinician offering again (the old recovery)
 * could not help, as the client's answers still came without candidates. With one first
 * offer nothing crosses, and no timer to offer again is needed.
 */
export class Call extends EventTarget {
  constructor(signaling, { peerId, polite, localStream, iceServers = [] }) {
    super();
    this.signaling = signaling;
    this.peerId = peerId;
    this.polite = polite;
    this.ignoreOffer = false;
    // Whether an offer and its answer have gone through once (before that, only the impolite
    // side's first offer may be made).
    this.negotiated = false;
    this.reportedConnected = false;
    this.remoteStream = new MediaStream();
    this.pc = new RTCPeerConnection({ iceServers });
    this.lastBytes = null;
    this.statsTimer = null;
    this.lastStatsSent = 0;
    this.chain = Promise.resolve();

    const pc = this.pc;
    const tracks = localStream?.getTracks() || [];
    for (const track of tracks) pc.addTrack(track, localStream);
    if (!polite) {
      // The first offer asks for audio and video even from a clinician without a camera or
      // microphone, so that the client's answer carries the client's own.
      for (const kind of ["audio", "video"]) {
        if (!tracks.some((track) => track.kind === kind)) pc.addTransceiver(kind, { direction: "recvonly" });
      }
    }
    // A screen shared by this side: its own transceiver, so the camera's is never touched.
    this.screenTransceiver = null;
    // The other side's shared screen, while it comes in.
    this.screenIn = null;
    pc.addEventListener("track", ({ track, streams, transceiver }) => {
      if (track.kind === "video" && this.#carriesScreen(transceiver)) {
        this.screenIn = transceiver;
        track.addEventListener("ended", () => this.#checkScreenIn());
        this.dispatchEvent(new CustomEvent("screen", { detail: streams[0] || new MediaStream([track]) }));
        return;
      }
      const stream = streams[0] || this.remoteStream;
      if (!streams[0]) this.remoteStream.addTrack(track);
      this.remoteStream = stream;
      this.dispatchEvent(new CustomEvent("remote-stream", { detail: stream }));
    });
    pc.addEventListener("signalingstatechange", () => {
      if (pc.signalingState === "stable" && pc.currentRemoteDescription) this.negotiated = true;
    });
    pc.addEventListener("negotiationneeded", () => {
      if (this.negotiated) this.#enqueueOffer();
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
      if (pc.connectionState === "failed" && !this.polite) this.#enqueueOffer({ iceRestart: true });
    });
    this.statsTimer = setInterval(() => this.#sample(), 2000);
  }

  /** The call's first video m-line carries the camera (the first offer always has one); any
   * later one a shared screen (docs/signaling.md, "Screen sharing"). */
  #carriesScreen(transceiver) {
    const camera = this.pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
    return transceiver !== camera;
  }

  /** The other side stopped sharing when its screen's m-line is rejected or no longer sends. */
  #checkScreenIn() {
    const transceiver = this.screenIn;
    if (!transceiver) return;
    const receiving = ["sendrecv", "recvonly"].includes(transceiver.currentDirection);
    if (receiving && transceiver.receiver.track.readyState === "live") return;
    this.screenIn = null;
    this.dispatchEvent(new CustomEvent("screen", { detail: null }));
  }

  /** Shares a screen, window or tab the person picks (getDisplayMedia needs their click). The
   * track goes on a transceiver of its own and perfect negotiation offers it, from either
   * side; the browser's own "Stop sharing" stops it as the page's button does. */
  async shareScreen() {
    if (this.screenTransceiver) return;
    const screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const [track] = screen.getVideoTracks();
    track.addEventListener("ended", () => this.stopSharing());
    this.screenTransceiver = this.pc.addTransceiver(track, { direction: "sendonly", streams: [screen] });
    this.dispatchEvent(new CustomEvent("sharing", { detail: screen }));
  }

  /** Stops sharing: the transceiver stops, and the offer that follows rejects its m-line. */
  stopSharing() {
    const transceiver = this.screenTransceiver;
    if (!transceiver) return;
    this.screenTransceiver = null;
    transceiver.sender.track?.stop();
    if (this.pc.signalingState !== "closed") transceiver.stop();
    this.dispatchEvent(new CustomEvent("sharing", { detail: null }));
  }

  /** Starts the call once the page hands this call the other side's messages: the impolite
   * side makes the first offer. */
  start() {
    if (!this.polite) this.#enqueueOffer();
  }

  #enqueueOffer({ iceRestart = false } = {}) {
    this.chain = this.chain.then(() => this.#offer(iceRestart));
    return this.chain;
  }

  async #offer(iceRestart) {
    const pc = this.pc;
    // An offer of ours is out, or one of theirs is being answered: when that settles,
    // `negotiationneeded` fires again if anything is still to negotiate.
    if (pc.signalingState !== "stable") return;
    try {
      if (iceRestart) pc.restartIce();
      await pc.setLocalDescription();
      this.signaling.send({ type: "offer", sdp: pc.localDescription.sdp, to: this.peerId });
    } catch (error) {
      console.warn("offer failed", error);
    }
  }

  /** Takes a relayed offer, answer or ICE candidate; they are applied one at a time, in order. */
  handle(message) {
    this.chain = this.chain.then(() => this.receive(message));
    return this.chain;
  }

  async receive(message) {
    const pc = this.pc;
    // A message of a call that has ended (queued before this one started) is not for it.
    if (this.peerId && message.from && message.from !== this.peerId) return;
    try {
      if (message.type === "offer" || message.type === "answer") {
        const description = { type: message.type, sdp: message.sdp };
        // Our own offers are made on the same queue, so one is never half-made here.
        const collision = description.type === "offer" && pc.signalingState !== "stable";
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        await pc.setRemoteDescription(description); // a polite peer rolls back its own offer
        if (description.type === "offer") {
          await pc.setLocalDescription();
          this.signaling.send({ type: "answer", sdp: pc.localDescription.sdp, to: this.peerId });
        }
        this.#checkScreenIn();
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

  /** After the peer came back on a new connection: the impolite side restarts ICE. When only
   * the room moved (`moved`), the media was never touched: restart only if it broke. */
  restart({ moved = false } = {}) {
    if (moved && ["connected", "connecting", "new"].includes(this.pc.connectionState)) return;
    if (!this.polite) this.#enqueueOffer({ iceRestart: true });
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
      // Whether any video arrived decides an audio-only session for billing.
      stats.video_frames_decoded = framesDecoded;
      this.signaling.send(stats);
    }
  }

  close() {
    clearInterval(this.statsTimer);
    this.screenTransceiver?.sender.track?.stop();
    this.screenTransceiver = null;
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
