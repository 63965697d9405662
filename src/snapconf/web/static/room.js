// snapconf room page: joins a room with the signaling protocol of docs/signaling.md.
//
// Two peer connections, as the server expects: `send` (we offer our tracks with `publish`,
// the server answers) and `recv` (the server offers one m-section per remote track, we
// answer). Remote tracks are put in their participant's tile using the `tracks` map of
// each server `offer` (mid -> participantId, trackId, kind, source).

// The chat, the raised hands and the participants panel live in meeting.js.
import { createMeeting } from "/static/meeting.js";
// The moderator's controls and the waiting room live in moderation.js.
import { createModeration } from "/static/moderation.js";
// The pre-join screen and the device settings, the tiles' layouts, the page's language.
import { createPrejoin } from "/static/prejoin.js";
import { createLayout } from "/static/layout.js";
import { lang, t, translatePage } from "/static/i18n.js";

const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
const NAME_KEY = "snapconf.displayName";
const PING_INTERVAL_MS = 20000;
const PC_CONFIG = { bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" };

// The camera is published as three simulcast layers (RFC 8853, rid-based: RFC 8851),
// lowest first, so that the server forwards each receiver the one its tile and link can
// take. They must be given to addTransceiver (Firefox takes no new encodings later in
// setParameters). A server that answers without a=simulcast gets one encoding (JSEP,
// RFC 8829 section 5.3.1): the first, which we then raise to the full layer.
const CAMERA_ENCODINGS = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1500000 },
];
const CAMERA_CONSTRAINTS = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
// Remote video sizes go to the server (`setViews`) this long after the layout settles.
const VIEWS_DEBOUNCE_MS = 300;
const MAX_VIEWS = 64; // docs/signaling.md
const MAX_VIEW_SIDE = 8192;
// Beyond this many tiles, the dominant speaker's tile is shown larger.
const SPEAKER_EMPHASIS_TILES = 4;
const DOMINANT_TEXT = "parle";

// Every code of docs/signaling.md gets a sentence; the code itself goes to the console.
const PROTOCOL_TEXT = "Le navigateur et le serveur ne se sont pas compris. Rechargez la page.";
const ERROR_TEXT = {
  bad_json: PROTOCOL_TEXT,
  bad_message: PROTOCOL_TEXT,
  unknown_type: PROTOCOL_TEXT,
  not_joined: PROTOCOL_TEXT,
  already_joined: "Vous êtes déjà dans cette réunion.",
  unknown_track: "Ce micro ou cette caméra n’est plus partagé.",
  message_too_large: "Le serveur a refusé un message trop long.",
  room_full: "La réunion est complète : le nombre maximum de participants est atteint.",
  auth_required: "Cette réunion demande une invitation : utilisez le lien reçu de l’organisateur.",
  auth_invalid: "Votre lien d’invitation n’est pas valide.",
  auth_expired: "Votre lien d’invitation a expiré : demandez-en un nouveau à l’organisateur.",
  room_mismatch: "Votre lien d’invitation concerne une autre réunion.",
  conference_not_found: "Cette réunion n’existe pas : vérifiez le lien reçu.",
  conference_not_started: "La réunion n’est pas encore ouverte.",
  conference_ended: "Cette réunion est terminée.",
  conference_cancelled: "Cette réunion a été annulée par son organisateur.",
  bad_sdp: "Le serveur n’a pas pu accepter le micro ou la caméra de ce navigateur.",
  unsupported_codec: "Le serveur ne peut pas transmettre le format audio ou vidéo de ce navigateur.",
  too_many_tracks: "Vous partagez déjà autant de pistes que la réunion le permet.",
  too_many_from_address: "Trop de participants se connectent depuis votre réseau.",
  chat_too_long: "Message trop long : 2000 caractères au plus.",
  chat_rate_limited: "Vous envoyez trop de messages : patientez quelques secondes.",
  not_moderator: "Seul un modérateur peut faire cela.",
  unknown_participant: "Ce participant n’est plus dans la réunion.",
  conference_locked: "La réunion est verrouillée par un modérateur : personne ne peut plus la rejoindre.",
  removed: "Un modérateur vous a retiré de cette réunion : vous ne pouvez pas la rejoindre à nouveau.",
  refused: "Un modérateur n’a pas accepté votre entrée dans la réunion.",
  internal: "Le serveur a rencontré une erreur. Réessayez dans un instant.",
};
const DEFAULT_ERROR_TEXT = "Le serveur a refusé la demande. Réessayez dans un instant.";

// Why the server ended our participation (`left.reason`), in words.
const MEDIA_LOST_TEXT = "La connexion audio et vidéo avec le serveur a été perdue.";
const LEFT_TEXT = {
  removed: "Un modérateur vous a retiré de la réunion.",
  refused: "Un modérateur n’a pas accepté votre entrée dans la réunion.",
  ended_by_moderator: "Un modérateur a terminé la réunion pour tout le monde.",
  "conference ended": "La réunion est terminée.",
  "conference cancelled": "La réunion a été annulée par son organisateur.",
  "server shutting down": "Le serveur redémarre : rejoignez la réunion dans un instant.",
  "dtls failed": MEDIA_LOST_TEXT,
  "consent expired": MEDIA_LOST_TEXT,
  "join timeout": "La connexion a été fermée : la réunion n’a pas été rejointe à temps.",
  "media timeout": "L’audio et la vidéo n’ont pas pu s’établir avec le serveur : un pare-feu bloque peut-être le port UDP de la réunion.",
  "message too large": "Le serveur a fermé la connexion après un message trop long.",
  replaced: "Vous avez rejoint la réunion depuis une autre fenêtre ou un autre appareil.",
};
const DEFAULT_LEFT_TEXT = "Vous avez été déconnecté de la réunion.";
const PHONE_NAME = "Téléphone";
const MODERATOR_MUTE_TEXT = "Micro coupé par un modérateur";

const $ = (selector) => document.querySelector(selector);
const ui = {
  form: $("#join-form"),
  name: $("#display-name"),
  joinButton: $("#join-button"),
  conference: $("#conference"),
  tiles: $("#tiles"),
  localTile: $("#local-tile"),
  localVideo: $("#local-video"),
  mic: $("#btn-mic"),
  camera: $("#btn-camera"),
  screen: $("#btn-screen"),
  sound: $("#btn-sound"),
  mix: $("#btn-mix"),
  leave: $("#btn-leave"),
  status: $("#status"),
  errors: $("#errors"),
  ended: $("#ended"),
};

const room = decodeURIComponent(location.pathname.replace(/^\/+|\/+$/g, "").split("/").pop() || "");
const token = new URLSearchParams(location.search).get("token");

const state = {
  ws: null,
  nextId: 1,
  pending: new Map(), // request id -> {resolve, reject}
  participantId: null,
  role: null,
  participants: new Map(), // id -> {id, displayName, tracks: Map(trackId -> track), tile}
  gone: new Set(), // participants that left: late tracks of theirs are ignored
  stream: null, // local camera + microphone
  local: { audio: null, video: null, screen: null }, // {track, transceiver, source, trackId}
  send: null,
  recv: null,
  recvTracks: {}, // mid -> {participantId, trackId, kind, source}
  rejected: [], // the last publish answer's `rejected` list
  rejectedShown: new Set(), // mids of our rejected tracks, already shown
  leftReasons: {}, // participantId -> reason of its participantLeft
  publishing: Promise.resolve(),
  offers: Promise.resolve(),
  pingTimer: null,
  leaving: false,
  // reconnection (docs/signaling.md): the seat's token, how long the server keeps it, and
  // whether we are getting it back now
  resumeToken: null,
  grace: 0,
  displayName: "",
  reconnecting: false,
  mediaRestart: null, // timer: a peer connection disconnected for too long
  mutedBy: new Map(), // our trackId -> who muted it (a moderator's mute may beat our answer)
  // the kinds this browser can send: given at join, or turned off at join and listed by
  // enumerateDevices (the participants panel says "Micro coupé", not "Pas de micro")
  available: { audio: false, video: false },
  camera: Promise.resolve(), // the camera's turnings off and on, one after the other
  bookingClosed: false, // the room's booking is cancelled or ended: nobody may join
  dominant: null, // participantId of the dominant speaker
  views: {
    seen: new Map(), // remote <video> -> {visible, width, height} (CSS pixels)
    sent: "", // the last setViews report, as sent
    timer: null,
    resize: null, // ResizeObserver
    intersect: null, // IntersectionObserver
  },
};

// For tests and later pages (e.g. `await snapconf.pc.recv.getStats()`).
window.snapconf = {
  get pc() { return { send: state.send, recv: state.recv }; },
  get participantId() { return state.participantId; },
  get role() { return state.role; },
  get participants() { return state.participants; },
  get layout() { return layout.state; },
  room,
  state,
  leave,
  publish,
  // what the server sends us (docs/signaling.md `getStats`)
  stats: () => request({ type: "getStats" }),
};

// ---------------------------------------------------------------- participants panel

// Fills the actions cell of one row of the participants panel (meeting.js calls it for
// every row at each render). `participant`: {id, you, kind: "browser" | "phone" | "agent",
// role, displayName}. Left empty here: the moderator actions (mute, remove, promote...)
// go in it.
function renderParticipantActions(container, participant) {
  moderation.renderParticipantActions(container, participant);
}

const moderation = createModeration({
  state,
  request,
  sendMessage,
  announce,
  showError,
  render: () => meeting.render(),
  askedToUnmute() {
    announce("Un modérateur vous demande de réactiver votre micro. Vous seul pouvez le faire.");
    ui.mic.classList.add("asked");
  },
});

const meeting = createMeeting({
  state,
  request,
  announce,
  phoneName: PHONE_NAME,
  renderParticipantActions,
});

const prejoin = createPrejoin({
  state,
  announce,
  showError,
  renderLocalTile: () => renderLocalTile(),
  constraints: CAMERA_CONSTRAINTS,
});
const layout = createLayout({ announce });

// ---------------------------------------------------------------- messages and status

function announce(text) {
  ui.status.textContent = text;
}

function showError(text) {
  const p = document.createElement("p");
  p.textContent = text;
  ui.errors.append(p);
  while (ui.errors.childElementCount > 5) ui.errors.firstElementChild.remove();
}

const WHEN = new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { dateStyle: "full", timeStyle: "short" });

function errorText(msg) {
  let text = ERROR_TEXT[msg.code] || DEFAULT_ERROR_TEXT;
  const opens = msg.details && Date.parse(msg.details.opensAt);
  if (msg.code === "conference_not_started" && opens) {
    text += ` Elle ouvre le ${WHEN.format(new Date(opens))}.`;
  }
  return text;
}

class ServerError extends Error {
  constructor(msg) {
    super(errorText(msg));
    this.code = msg.code;
    console.warn(`snapconf: ${msg.code}: ${msg.message}`);
  }
}

// ---------------------------------------------------------------- signaling

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error("Connexion au serveur impossible."));
    ws.onmessage = (event) => onMessage(event.data);
    ws.onclose = onSocketClose;
  });
}

function sendMessage(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

function request(msg) {
  const id = state.nextId++;
  return new Promise((resolve, reject) => {
    state.pending.set(id, { resolve, reject });
    sendMessage({ ...msg, id });
  });
}

function onMessage(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    console.warn("snapconf: unreadable message", text);
    return;
  }
  const waiting = msg.id !== undefined && state.pending.get(msg.id);
  if (waiting) {
    state.pending.delete(msg.id);
    if (msg.type === "error") waiting.reject(new ServerError(msg));
    else waiting.resolve(msg);
    return;
  }
  const handler = handlers[msg.type];
  if (handler) handler(msg);
  else if (!(msg.type === "chat" || msg.type === "handRaised")) console.debug("snapconf: ignored message", msg.type);
  meeting.onMessage(msg); // chat, hands, and the participants panel follow every change
  moderation.onMessage(msg); // the waiting room, roles, the lock, a moderator's requests
}

const handlers = {
  error(msg) {
    console.warn("snapconf: server error", msg);
    if (msg.code !== "stale_answer") showError(new ServerError(msg).message); // a new offer follows
  },
  offer(msg) {
    state.offers = state.offers.then(() => onOffer(msg)).catch((err) => {
      console.error(err);
      showError(`Réception des médias impossible : ${err.message}`);
    });
  },
  participantJoined(msg) {
    addParticipant(msg.participant);
    announce(`${msg.participant.displayName} a rejoint la réunion.`);
  },
  participantLeft(msg) {
    const p = state.participants.get(msg.participantId);
    state.gone.add(msg.participantId);
    state.leftReasons[msg.participantId] = msg.reason;
    if (!p) return;
    state.participants.delete(p.id);
    p.tile.querySelectorAll("video").forEach(unobserveView);
    p.tile.remove();
    markDominant();
    announce(`${p.displayName || "Un participant"} a quitté la réunion.`);
  },
  trackPublished(msg) {
    const p = participant(msg.participantId);
    if (!p) return;
    p.tracks.set(msg.track.id, msg.track);
    renderTile(p);
  },
  trackUnpublished(msg) {
    const p = state.participants.get(msg.participantId);
    if (!p) return;
    p.tracks.delete(msg.trackId);
    p.tile.querySelectorAll(`[data-track-id="${CSS.escape(msg.trackId)}"]`).forEach(removeMedia);
    renderTile(p);
  },
  trackMuted(msg) {
    if (msg.participantId === state.participantId) {
      state.mutedBy.set(msg.trackId, msg.muted ? msg.by : null);
      followModeratorMute(msg.trackId);
      return;
    }
    const p = participant(msg.participantId);
    const track = p && p.tracks.get(msg.trackId);
    if (!track) return;
    track.muted = msg.muted;
    renderTile(p);
  },
  activeSpeakers(msg) {
    const speaking = new Set(msg.participantIds || []);
    ui.tiles.querySelectorAll(".tile[data-participant-id]").forEach((tile) => {
      tile.classList.toggle("speaking", speaking.has(tile.dataset.participantId));
    });
  },
  conferenceEnding(msg) {
    announce(`La réunion se termine dans ${msg.graceSeconds} secondes.`);
  },
  left(msg) {
    console.info("snapconf: left:", msg.reason);
    if (!state.participantId) return; // refused at the waiting room: the join's error says so
    teardown(msg.reason === "left" || state.leaving ? null : LEFT_TEXT[msg.reason] || DEFAULT_LEFT_TEXT);
  },
  // Who speaks most now (docs/signaling.md): marked, and larger in a grid of more than 4;
  // the "speaking" outline of activeSpeakers stays as it is.
  // another page lost its connection; its seat is kept while it comes back
  participantReconnecting(msg) {
    const p = state.participants.get(msg.participantId);
    if (!p) return;
    p.reconnecting = true;
    renderTile(p);
    announce(`${p.displayName || "Un participant"} se reconnecte…`);
  },
  participantReconnected(msg) {
    const p = state.participants.get(msg.participantId);
    if (!p) return;
    p.reconnecting = false;
    renderTile(p);
  },
  dominantSpeaker(msg) {
    state.dominant = typeof msg.participantId === "string" ? msg.participantId : null;
    markDominant();
  },
  pong() {},
};

function onSocketClose() {
  for (const { reject } of state.pending.values()) reject(new Error("Connexion au serveur fermée."));
  state.pending.clear();
  // a dropped socket (Wi-Fi change, VPN reconnecting): the server keeps our seat a while
  if (state.participantId && !state.leaving) reconnect();
}

// ---------------------------------------------------------------- reconnection

const RECONNECT_FIRST_DELAY_MS = 500;
const RECONNECT_MAX_DELAY_MS = 4000;
// a peer connection "disconnected" this long is rebuilt (a short outage heals by itself)
const MEDIA_RESTART_MS = 8000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Gets our seat back on a new socket (`join` with `resume`), within the server's grace;
// then new peer connections carry our tracks and the others' again.
async function reconnect() {
  if (state.reconnecting) return;
  state.reconnecting = true;
  clearInterval(state.pingTimer);
  document.body.classList.add("reconnecting");
  announce("Connexion perdue : reconnexion en cours…");
  const deadline = Date.now() + Math.max(state.grace, 5) * 1000;
  let delay = RECONNECT_FIRST_DELAY_MS;
  while (!state.leaving && Date.now() < deadline) {
    let joined = null;
    try {
      state.ws = await connect();
      const msg = { type: "join", room, displayName: state.displayName, resume: state.resumeToken };
      if (token) msg.token = token;
      joined = await request(msg);
    } catch (err) {
      if (err instanceof ServerError) { // refused: removed, ended, locked...
        state.reconnecting = false;
        document.body.classList.remove("reconnecting");
        teardown(err.message);
        return;
      }
      console.warn("snapconf: reconnection attempt failed", err);
      state.ws?.close();
      await sleep(delay);
      delay = Math.min(delay * 2, RECONNECT_MAX_DELAY_MS);
      continue;
    }
    try {
      await resumed(joined);
    } catch (err) {
      console.error(err);
      showError(`Reconnexion incomplète : ${err.message}`);
    }
    state.reconnecting = false;
    document.body.classList.remove("reconnecting");
    announce(joined.resumed ? "Reconnecté à la réunion." : "Reconnecté à la réunion (vous y revenez comme nouveau participant).");
    return;
  }
  state.reconnecting = false;
  document.body.classList.remove("reconnecting");
  if (!state.leaving) teardown("La connexion au serveur a été perdue.");
}

// The room as the server sees it now, and fresh media: the server gave us new transports.
async function resumed(joined) {
  state.participantId = joined.participantId;
  state.role = joined.role;
  state.resumeToken = joined.resumeToken || null;
  state.grace = joined.reconnectGrace || 0;
  const present = new Set((joined.participants || []).map((p) => p.id));
  for (const p of [...state.participants.values()]) {
    if (!present.has(p.id)) handlers.participantLeft({ participantId: p.id, reason: "left" });
  }
  for (const p of joined.participants || []) {
    const known = state.participants.get(p.id);
    if (known) known.tracks = new Map(); // what they publish now comes with the list
    addParticipant(p);
  }
  if (joined.dominantSpeaker) handlers.dominantSpeaker({ participantId: joined.dominantSpeaker });
  meeting.onJoined(joined);
  moderation.onJoined(joined);
  state.pingTimer = setInterval(() => sendMessage({ type: "ping" }), PING_INTERVAL_MS);
  await rebuildMedia();
}

// New peer connections for the tracks we share; the server offers the others' anew.
async function rebuildMedia() {
  clearTimeout(state.mediaRestart);
  state.mediaRestart = null;
  const entries = Object.entries(state.local).filter(([, entry]) => entry);
  state.send?.close();
  state.recv?.close();
  state.recv = null;
  state.recvTracks = {};
  ui.tiles.querySelectorAll("[data-mid]").forEach(removeMedia);
  state.offers = Promise.resolve();
  state.publishing = Promise.resolve();
  state.send = newSendConnection();
  state.local = { audio: null, video: null, screen: null };
  for (const [kind, entry] of entries) {
    // a camera turned off was released: it stays off, and turning it on opens it anew
    // (one more m-section then, as for a camera off at join)
    if (entry.released) continue;
    addLocalTrack(kind, entry.track, entry.source, state.stream);
  }
  state.views.sent = "";
  scheduleViews();
  if (ui.mix.getAttribute("aria-pressed") === "true") sendMessage({ type: "setAudioMode", mode: "mix" });
  await publish();
}

// A peer connection that failed, or stayed disconnected, while the socket is up: ask the
// server for new transports and rebuild ours (an outage of a few seconds heals by itself).
function watchMedia(pc, failedText) {
  pc.addEventListener("connectionstatechange", () => {
    if (pc !== state.send && pc !== state.recv) return; // replaced already
    const now = pc.connectionState;
    if (now === "connected") {
      clearTimeout(state.mediaRestart);
      state.mediaRestart = null;
    } else if (now === "disconnected" && !state.mediaRestart) {
      state.mediaRestart = setTimeout(restartMedia, MEDIA_RESTART_MS);
    } else if (now === "failed") {
      console.warn("snapconf:", failedText);
      restartMedia();
    }
  });
}

function restartMedia() {
  clearTimeout(state.mediaRestart);
  state.mediaRestart = null;
  if (state.leaving || state.reconnecting || !state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  announce("Connexion audio et vidéo perdue : rétablissement en cours…");
  sendMessage({ type: "restartMedia" });
  rebuildMedia().catch((err) => showError(`Rétablissement des médias impossible : ${err.message}`));
}

// ---------------------------------------------------------------- local media and publishing

async function startLocalMedia(want) {
  const video = CAMERA_CONSTRAINTS;
  if (!want.audio && !want.video) return new MediaStream();
  const tries = want.audio && want.video ? [{ audio: true, video }, { audio: true }, { video }]
    : [want.audio ? { audio: true } : { video }];
  for (const constraints of tries) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      console.warn("snapconf: getUserMedia", constraints, err);
    }
  }
  showError("Micro et caméra inaccessibles : vous rejoignez sans les partager.");
  return new MediaStream();
}

function localEntries() {
  return Object.values(state.local).filter(Boolean);
}

// Publishes are serialised: each waits for the previous answer.
function publish() {
  const run = state.publishing.then(doPublish);
  state.publishing = run.catch(() => {});
  return run;
}

async function doPublish() {
  const pc = state.send;
  if (!pc || localEntries().length === 0) return;
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  const tracks = {};
  for (const entry of localEntries()) tracks[entry.transceiver.mid] = { source: entry.source };
  let reply;
  try {
    reply = await request({ type: "publish", sdp: pc.localDescription.sdp, tracks });
  } catch (err) {
    if (pc.signalingState === "have-local-offer") await pc.setLocalDescription({ type: "rollback" });
    throw err;
  }
  const offered = new Map(localEntries().map((e) => [e.transceiver.mid, e])); // before a
  // rejected m-section stops its transceiver (its mid may then read null)
  await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
  showRejected(reply.rejected || [], offered);
  if (state.local.video) await fullLayerWithoutSimulcast(state.local.video.transceiver.sender);
  for (const entry of localEntries()) {
    const trackId = reply.tracks && reply.tracks[entry.transceiver.mid];
    if (!trackId) continue;
    entry.trackId = trackId;
    if (!entry.track.enabled) sendMessage({ type: "mute", trackId, muted: true });
    followModeratorMute(trackId);
  }
  for (const entry of localEntries()) entry.turnedOn = false; // answered: its hold is known
}

// What the server could not take of our offer (docs/signaling.md, `rejected`): said once
// per track. A transceiver we stopped ourselves (a screen share that ended) is not ours
// any more and says nothing.
const REJECTED_TEXT = {
  no_codec: "le serveur ne prend aucun des codecs du navigateur",
  stopped: "le navigateur a arrêté la piste",
  not_sending: "le navigateur ne l’envoie pas",
  unsupported: "ce type de média n’est pas pris en charge",
};
const SHARE_TEXT = {
  microphone: "Votre micro n’a pas pu être partagé",
  camera: "Votre caméra n’a pas pu être partagée",
  screen: "Votre partage d’écran n’a pas pu être partagé",
};

function showRejected(rejected, offered) {
  state.rejected = rejected;
  for (const { mid, kind, reason } of rejected) {
    const entry = offered.get(mid);
    // once per track: the next offers carry its stopped transceiver, rejected again
    if (!entry || state.rejectedShown.has(mid)) continue;
    state.rejectedShown.add(mid);
    console.warn("snapconf: track not accepted by the server", mid, kind, reason);
    showError(`${SHARE_TEXT[entry.source] || SHARE_TEXT.camera} : ${REJECTED_TEXT[reason] || reason}.`);
  }
}

// The server is ICE-lite and needs none of our candidates, but they cost little: wait a
// moment so the offer carries them.
function iceGathered(pc, timeoutMs = 1000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

function addLocalTrack(kind, track, source, stream) {
  const init = { direction: "sendonly", streams: [stream] };
  if (source === "camera") init.sendEncodings = CAMERA_ENCODINGS.map((e) => ({ ...e }));
  // a screen share is text and lines: one sharp encoding, frame rate dropped before detail
  if (source === "screen" && "contentHint" in track) track.contentHint = "detail";
  let transceiver;
  try {
    transceiver = state.send.addTransceiver(track, init);
  } catch (err) {
    if (!init.sendEncodings) throw err;
    console.warn("snapconf: no simulcast in this browser", err);
    delete init.sendEncodings;
    transceiver = state.send.addTransceiver(track, init);
  }
  // released: a camera turned off, its track stopped and its sender empty (setCamera)
  state.local[kind] = { track, transceiver, source, trackId: null, released: false };
}

// The answer had no a=simulcast for the camera: the browser kept only its first encoding,
// the quarter-size one. Send the full layer instead.
async function fullLayerWithoutSimulcast(sender) {
  const params = sender.getParameters();
  const full = CAMERA_ENCODINGS[CAMERA_ENCODINGS.length - 1];
  if (!params.encodings || params.encodings.length !== 1) return;
  const [encoding] = params.encodings;
  if (encoding.scaleResolutionDownBy === full.scaleResolutionDownBy && encoding.maxBitrate === full.maxBitrate) return;
  encoding.scaleResolutionDownBy = full.scaleResolutionDownBy;
  encoding.maxBitrate = full.maxBitrate;
  try {
    await sender.setParameters(params);
  } catch (err) {
    console.warn("snapconf: camera encoding unchanged", err);
  }
}

function newSendConnection() {
  const pc = new RTCPeerConnection(PC_CONFIG);
  watchMedia(pc, "send connection failed");
  return pc;
}

function createSendConnection() {
  state.send = newSendConnection();
  const [audio] = state.stream.getAudioTracks();
  const [video] = state.stream.getVideoTracks();
  if (audio) addLocalTrack("audio", audio, "microphone", state.stream);
  if (video) addLocalTrack("video", video, "camera", state.stream);
  // a device turned off before joining is opened when turned on; one the browser did
  // not give stays out of reach
  const want = prejoin.wanted();
  ui.mic.disabled = !audio && want.audio;
  ui.camera.disabled = !video && want.video;
}

// What this browser can send, for the participants panel: a kind it gave, or one turned
// off at join that it lists (one it refused, or has not, is "Pas de micro").
function learnAvailable(stream) {
  const want = prejoin.wanted();
  state.available = {
    audio: stream.getAudioTracks().length > 0 || (!want.audio && prejoin.has("audio")),
    video: stream.getVideoTracks().length > 0 || (!want.video && prejoin.has("video")),
  };
}

// Turns on a camera or microphone that was off at join, so never opened: it opens now,
// with the device chosen in the settings, and is published (one more m-section).
async function startLocal(kind) {
  const button = kind === "audio" ? ui.mic : ui.camera;
  if (button.disabled) return;
  button.disabled = true;
  if (kind === "audio") ui.mic.classList.remove("asked");
  try {
    let track;
    try {
      track = await prejoin.capture(kind);
    } catch (err) {
      console.warn("snapconf: getUserMedia", kind, err);
      showError(kind === "audio" ? `Micro inaccessible : ${err.message}` : `Caméra inaccessible : ${err.message}`);
      return;
    }
    if (state.leaving || state.local[kind] || !state.send) {
      track.stop();
      return;
    }
    state.stream.addTrack(track);
    addLocalTrack(kind, track, kind === "audio" ? "microphone" : "camera", state.stream);
    // turned on by the participant: a moderator's standing stop of this source (the server
    // starts the new track muted, docs/signaling.md) is lifted, as a click on the button would
    state.local[kind].turnedOn = true;
    if (kind === "video") {
      ui.localVideo.srcObject = null;
      ui.localVideo.srcObject = state.stream;
    }
    renderLocalTile();
    await publish();
  } finally {
    button.disabled = false;
  }
}

// Our own buttons show our own mutes; a moderator's mute we show and follow, so that
// "Activer le micro" unmutes (the server forwards nothing meanwhile). It may come before
// the answer that tells us our track's id: then it is applied when the answer comes.
function followModeratorMute(trackId) {
  const mic = state.local.audio;
  const by = state.mutedBy.get(trackId);
  if (!by || by === state.participantId) return;
  const own = localEntries().find((e) => e.trackId === trackId && e.turnedOn);
  if (own) { // the participant's own turning on comes after the moderator's stop
    own.turnedOn = false;
    if (own === state.local.video) setCameraEnabled(own);
    else setMuted("audio", false);
    return;
  }
  // a moderator stopped our camera or our screen share: the server forwards it no more
  const { video, screen } = state.local;
  if (screen && screen.trackId === trackId) {
    announce("Un modérateur a arrêté votre partage d’écran.");
    stopScreen().catch((err) => showError(err.message));
    return;
  }
  if (video && video.trackId === trackId) {
    if (!video.track.enabled) return; // off already (this runs again after each publish)
    // the server forwards it no more and knows it muted: released here, no `mute` sent
    setCamera(false, false);
    announce("Un modérateur a coupé votre caméra. Vous pouvez la réactiver.");
    return;
  }
  if (!mic || mic.trackId !== trackId) return;
  mic.track.enabled = false;
  mic.mutedByModerator = true;
  renderLocalTile();
  announce(MODERATOR_MUTE_TEXT);
}

function setMuted(kind, muted) {
  const entry = state.local[kind];
  if (!entry) {
    if (!muted) startLocal(kind).catch((err) => showError(err.message));
    return;
  }
  if (kind === "video") {
    setCamera(!muted, true);
    return;
  }
  if (kind === "audio") ui.mic.classList.remove("asked");
  entry.mutedByModerator = false;
  entry.track.enabled = !muted;
  if (entry.trackId) sendMessage({ type: "mute", trackId: entry.trackId, muted });
  renderLocalTile();
}

// The camera turned off is released, not only disabled, so that its light goes off (as in
// Jitsi or Meet): its track is stopped and its sender sends nothing (replaceTrack(null)).
// The transceiver stays, with its simulcast encodings, and so does the server's track,
// muted (`mute`). Turned on, the device chosen in the settings opens again and goes on
// the same sender: no renegotiation, the same track for the others. The turnings are
// serialised (a second click waits for the camera to open).
function setCamera(on, tellServer) {
  const run = state.camera.then(() => (on ? cameraOn() : cameraOff(tellServer)));
  state.camera = run.catch((err) => showError(err.message));
  return state.camera;
}

async function cameraOff(tellServer) {
  const entry = state.local.video;
  if (!entry || entry.released) return;
  const { track } = entry;
  entry.released = true;
  track.enabled = false; // what every view of our camera reads (tile, buttons, panel)
  if (tellServer && entry.trackId) sendMessage({ type: "mute", trackId: entry.trackId, muted: true });
  state.stream.removeTrack(track);
  track.stop();
  renderLocalTile();
  try {
    await entry.transceiver.sender.replaceTrack(null);
  } catch (err) {
    console.warn("snapconf: camera sender", err); // a stopped transceiver sends nothing
  }
}

async function cameraOn() {
  const entry = state.local.video;
  if (!entry || !entry.released) {
    if (entry) setCameraEnabled(entry); // never released (an older moderator's stop)
    return;
  }
  ui.camera.disabled = true;
  try {
    let track;
    try {
      track = await prejoin.capture("video");
    } catch (err) {
      console.warn("snapconf: getUserMedia video", err);
      showError(`Caméra inaccessible : ${err.message}`);
      return;
    }
    if (state.leaving || state.local.video !== entry) {
      track.stop(); // left, or the media were rebuilt without it meanwhile
      return;
    }
    try {
      await entry.transceiver.sender.replaceTrack(track);
    } catch (err) {
      track.stop();
      throw new Error(`Caméra inaccessible : ${err.message}`);
    }
    entry.track = track;
    entry.released = false;
    state.stream.addTrack(track);
    ui.localVideo.srcObject = null;
    ui.localVideo.srcObject = state.stream;
    setCameraEnabled(entry);
  } finally {
    ui.camera.disabled = false;
  }
}

function setCameraEnabled(entry) {
  entry.track.enabled = true;
  if (entry.trackId) {
    state.mutedBy.delete(entry.trackId); // ours now: a later publish must not stop it again
    sendMessage({ type: "mute", trackId: entry.trackId, muted: false });
  }
  renderLocalTile();
}

function renderLocalTile() {
  const { audio, video } = state.local;
  const micOff = !audio || !audio.track.enabled;
  const camOff = !video || !video.track.enabled;
  const indicator = ui.localTile.querySelector(".muted-indicator");
  indicator.hidden = !micOff;
  indicator.textContent = micOff && audio && audio.mutedByModerator ? MODERATOR_MUTE_TEXT : "Micro coupé";
  ui.localTile.classList.toggle("camera-off", camOff);
  ui.localTile.querySelector(".placeholder").textContent = initials(ui.name.value);
  ui.mic.setAttribute("aria-pressed", String(micOff));
  ui.mic.textContent = micOff ? "Activer le micro" : "Couper le micro";
  ui.camera.setAttribute("aria-pressed", String(camOff));
  ui.camera.textContent = camOff ? "Activer la caméra" : "Couper la caméra";
  ui.screen.setAttribute("aria-pressed", String(Boolean(state.local.screen)));
  ui.screen.textContent = state.local.screen ? "Arrêter le partage" : "Partager l’écran";
  meeting.render(); // our own row of the participants panel
}

async function toggleScreen() {
  if (state.local.screen) return stopScreen();
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (err) {
    if (err.name !== "NotAllowedError") showError(`Partage d’écran impossible : ${err.message}`);
    return;
  }
  const [track] = stream.getVideoTracks();
  addLocalTrack("screen", track, "screen", stream);
  track.addEventListener("ended", stopScreen, { once: true });
  const preview = mediaElement("video", track);
  preview.classList.add("screen");
  preview.id = "local-screen";
  preview.dataset.testid = "local-screen";
  ui.localTile.append(preview);
  renderLocalTile();
  await publish();
}

async function stopScreen() {
  const entry = state.local.screen;
  if (!entry) return;
  state.local.screen = null;
  entry.track.stop();
  entry.transceiver.stop(); // the next offer carries the m-section with port 0
  $("#local-screen")?.remove();
  renderLocalTile();
  await publish();
}

// ---------------------------------------------------------------- receiving

async function onOffer(msg) {
  if (!state.recv) {
    const pc = new RTCPeerConnection(PC_CONFIG);
    pc.ontrack = (event) => attachRemote(event.transceiver.mid, event.track);
    watchMedia(pc, "receive connection failed");
    state.recv = pc;
  }
  Object.assign(state.recvTracks, msg.tracks || {}); // before ontrack fires
  await state.recv.setRemoteDescription({ type: "offer", sdp: msg.sdp });
  await state.recv.setLocalDescription(await state.recv.createAnswer());
  sendMessage({ type: "answer", version: msg.version, sdp: state.recv.localDescription.sdp });
  syncRemoteMedia();
}

function receiving(transceiver) {
  return transceiver.mid !== null &&
    (transceiver.currentDirection === "recvonly" || transceiver.currentDirection === "sendrecv");
}

// After each negotiation: drop elements whose m-section closed, attach any not yet shown.
function syncRemoteMedia() {
  const live = new Map(state.recv.getTransceivers().filter(receiving).map((t) => [t.mid, t]));
  ui.tiles.querySelectorAll("[data-mid]").forEach((el) => {
    if (!live.has(el.dataset.mid)) removeMedia(el);
  });
  for (const [mid, transceiver] of live) {
    if (!ui.tiles.querySelector(`[data-mid="${CSS.escape(mid)}"]`)) {
      attachRemote(mid, transceiver.receiver.track);
    }
  }
}

function attachRemote(mid, track) {
  const info = state.recvTracks[mid];
  if (!info) {
    console.warn("snapconf: track for unknown mid", mid);
    return;
  }
  if (info.source === "mix") return attachMix(mid, track);
  if (state.gone.has(info.participantId)) return;
  const p = participant(info.participantId);
  if (!p) return;
  p.tile.querySelector(`[data-mid="${CSS.escape(mid)}"]`)?.remove();
  const el = mediaElement(track.kind, track);
  el.dataset.mid = mid;
  el.dataset.trackId = info.trackId;
  el.dataset.source = info.source || (track.kind === "audio" ? "microphone" : "camera");
  el.dataset.testid = track.kind === "audio" ? "remote-audio" : "remote-video";
  if (el.dataset.source === "screen") el.classList.add("screen");
  if (track.kind === "video") {
    p.tile.prepend(el);
    observeView(el);
  } else p.tile.append(el);
  if (!p.tracks.has(info.trackId)) {
    p.tracks.set(info.trackId, { id: info.trackId, kind: info.kind, source: info.source, muted: false });
  }
  renderTile(p);
  el.play().catch((err) => {
    if (track.kind !== "audio") return;
    console.warn("snapconf: audio blocked", err);
    ui.sound.hidden = false; // autoplay refused: one click on this button unlocks it
  });
}

// The conference mix (low-bandwidth mode): one audio track that belongs to no tile.
function attachMix(mid, track) {
  ui.tiles.querySelector(`[data-mid="${CSS.escape(mid)}"]`)?.remove();
  const el = mediaElement("audio", track);
  el.dataset.mid = mid;
  el.dataset.source = "mix";
  el.dataset.testid = "mix-audio";
  ui.tiles.append(el);
  el.play().catch(() => { ui.sound.hidden = false; });
}

function toggleMix() {
  const mix = ui.mix.getAttribute("aria-pressed") !== "true";
  sendMessage({ type: "setAudioMode", mode: mix ? "mix" : "tracks" });
  ui.mix.setAttribute("aria-pressed", String(mix));
  ui.mix.textContent = mix ? "Son séparé" : "Son groupé (faible débit)";
  announce(mix ? "Son groupé : une seule piste audio pour toute la réunion." : "Son séparé par participant.");
}

function mediaElement(kind, track) {
  const el = document.createElement(kind === "audio" ? "audio" : "video");
  el.autoplay = true;
  if (kind !== "audio") {
    el.playsInline = true;
    el.muted = true; // video only: its audio plays from the <audio> element
  }
  el.srcObject = new MediaStream([track]);
  return el;
}

function removeMedia(el) {
  unobserveView(el);
  el.srcObject = null;
  el.remove();
}

// ---------------------------------------------------------------- view reports

// Each remote video's visibility (IntersectionObserver: scrolled out of sight, a hidden
// camera, a hidden page) and size in device pixels (ResizeObserver x devicePixelRatio)
// go to the server as `setViews`, debounced and only when the report changed, so that it
// never sends a layer larger than the tile, nor video nobody sees.
function observeView(el) {
  const views = state.views;
  if (!views.resize) {
    views.resize = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const seen = views.seen.get(entry.target);
        if (!seen) continue;
        seen.width = entry.contentRect.width;
        seen.height = entry.contentRect.height;
      }
      scheduleViews();
    });
    views.intersect = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const seen = views.seen.get(entry.target);
        if (seen) seen.visible = entry.isIntersecting;
      }
      scheduleViews();
    });
  }
  views.seen.set(el, { visible: false, width: 0, height: 0 });
  views.resize.observe(el);
  views.intersect.observe(el);
  scheduleViews();
}

function unobserveView(el) {
  const views = state.views;
  if (!views.seen.delete(el)) return;
  views.resize.unobserve(el);
  views.intersect.unobserve(el);
  scheduleViews();
}

function scheduleViews() {
  clearTimeout(state.views.timer);
  state.views.timer = setTimeout(sendViews, VIEWS_DEBOUNCE_MS);
}

function deviceSide(cssPixels) {
  return Math.min(MAX_VIEW_SIDE, Math.max(0, Math.round(cssPixels * (window.devicePixelRatio || 1))));
}

function sendViews() {
  state.views.timer = null;
  const report = {};
  let count = 0;
  for (const [el, seen] of state.views.seen) {
    const trackId = el.dataset.trackId;
    if (!trackId || (!(trackId in report) && count >= MAX_VIEWS)) continue;
    const view = {
      visible: seen.visible && !document.hidden,
      width: deviceSide(seen.width),
      height: deviceSide(seen.height),
    };
    const before = report[trackId];
    if (!before) count += 1;
    // one track in two elements (never expected): the larger view wins
    if (!before || (view.visible && (!before.visible || view.width > before.width))) report[trackId] = view;
  }
  const text = JSON.stringify(report);
  if (text === state.views.sent || !state.participantId) return;
  state.views.sent = text;
  sendMessage({ type: "setViews", views: report });
}

function stopViews() {
  const views = state.views;
  clearTimeout(views.timer);
  views.resize?.disconnect();
  views.intersect?.disconnect();
  views.seen.clear();
  views.sent = "";
}

// ---------------------------------------------------------------- dominant speaker

// A tile's accessible name says who it is, and that they speak when they are dominant.
function labelTile(tile, name) {
  if (name !== undefined) tile.dataset.label = name;
  const label = tile.dataset.label || tile.getAttribute("aria-label") || "";
  tile.dataset.label = label;
  tile.setAttribute("aria-label", tile.classList.contains("dominant") ? `${label}, ${DOMINANT_TEXT}` : label);
}

function markDominant() {
  const tiles = ui.tiles.querySelectorAll(".tile");
  ui.tiles.classList.toggle("many", tiles.length > SPEAKER_EMPHASIS_TILES);
  tiles.forEach((tile) => {
    const id = tile === ui.localTile ? state.participantId : tile.dataset.participantId;
    const dominant = Boolean(state.dominant) && id === state.dominant;
    tile.classList.toggle("dominant", dominant);
    labelTile(tile);
  });
}

// ---------------------------------------------------------------- tiles

function participant(id) {
  if (id === state.participantId || state.gone.has(id)) return null;
  return state.participants.get(id) || addParticipant({ id, displayName: "", tracks: [] });
}

function addParticipant(obj) {
  if (obj.id === state.participantId) return null;
  state.gone.delete(obj.id);
  let p = state.participants.get(obj.id);
  if (!p) {
    p = { id: obj.id, displayName: "", kind: "browser", tracks: new Map(), tile: createTile(obj.id) };
    state.participants.set(obj.id, p);
    ui.tiles.append(p.tile);
    markDominant();
  }
  if (obj.displayName) p.displayName = obj.displayName;
  if (obj.kind) p.kind = obj.kind;
  p.reconnecting = Boolean(obj.reconnecting);
  p.tile.dataset.kind = p.kind;
  for (const track of obj.tracks || []) p.tracks.set(track.id, track);
  renderTile(p);
  return p;
}

function createTile(id) {
  const tile = document.createElement("article");
  tile.className = "tile remote";
  tile.dataset.participantId = id;
  tile.dataset.testid = "remote-tile";
  tile.innerHTML = `<div class="placeholder" aria-hidden="true"></div>
    <p class="label"><span class="name" data-testid="participant-name"></span>
    <span class="kind" data-testid="participant-kind" hidden>${PHONE_NAME}</span>
    <span class="muted-indicator" data-testid="muted-indicator" hidden>Micro coupé</span>
    <span class="reconnecting-indicator" data-testid="reconnecting-indicator" hidden>Reconnexion…</span></p>`;
  return tile;
}

function renderTile(p) {
  const phone = p.kind === "phone";
  const name = p.displayName || (phone ? PHONE_NAME : "Participant");
  const tracks = [...p.tracks.values()];
  const mic = tracks.find((t) => t.kind === "audio");
  const camera = tracks.find((t) => t.kind === "video" && t.source !== "screen");
  // a browser without a microphone track (joined with it off, or without one) is not heard
  const micMuted = mic ? Boolean(mic.muted) : p.kind === "browser";
  labelTile(p.tile, phone && name !== PHONE_NAME ? `${name}, ${PHONE_NAME}` : name);
  p.tile.querySelector(".name").textContent = name;
  // a phone caller's "name" is a masked number: show a handset, and say it is a phone
  p.tile.querySelector(".kind").hidden = !phone || name === PHONE_NAME;
  p.tile.querySelector(".placeholder").textContent = phone ? "☎" : initials(name);
  p.tile.querySelector(".muted-indicator").hidden = !micMuted;
  p.tile.dataset.audioMuted = String(micMuted);
  p.tile.classList.toggle("camera-off", !camera || camera.muted);
  p.tile.classList.toggle("reconnecting", Boolean(p.reconnecting));
  p.tile.querySelector(".reconnecting-indicator").hidden = !p.reconnecting;
  p.tile.dataset.reconnecting = String(Boolean(p.reconnecting));
}

function initials(name) {
  return name.trim().split(/\s+/).slice(0, 2).map((w) => w[0] || "").join("").toUpperCase();
}

// ---------------------------------------------------------------- join and leave

async function join(event) {
  event.preventDefault();
  const displayName = ui.name.value.trim();
  if (!displayName) {
    showError("Indiquez votre nom pour rejoindre la réunion.");
    ui.name.setAttribute("aria-invalid", "true");
    ui.name.focus();
    return;
  }
  ui.name.removeAttribute("aria-invalid");
  localStorage.setItem(NAME_KEY, displayName);
  ui.joinButton.disabled = true;
  ui.errors.replaceChildren();
  try {
    announce("Accès au micro et à la caméra…");
    // the chosen devices, without those turned off (opened only when turned on)
    state.stream = (await prejoin.stream()) || (await startLocalMedia(prejoin.wanted()));
    learnAvailable(state.stream);
    ui.localVideo.srcObject = state.stream;
    announce("Connexion au serveur…");
    state.ws = await connect();
    const msg = { type: "join", room, displayName };
    if (token) msg.token = token;
    const joined = await request(msg);
    state.participantId = joined.participantId;
    state.role = joined.role;
    state.resumeToken = joined.resumeToken || null;
    state.grace = joined.reconnectGrace || 0;
    state.displayName = displayName;
    if (joined.title) showTitle(joined.title);
    for (const p of joined.participants || []) addParticipant(p);
    if (joined.dominantSpeaker) handlers.dominantSpeaker({ participantId: joined.dominantSpeaker });
    meeting.onJoined(joined); // the chat so far and the raised hands
    moderation.onJoined(joined); // the lock, the waiting room, the moderator's panel
    state.pingTimer = setInterval(() => sendMessage({ type: "ping" }), PING_INTERVAL_MS);
    ui.form.hidden = true;
    ui.conference.hidden = false;
    createSendConnection();
    renderLocalTile();
    prejoin.joined();
    ui.mic.focus();
    announce("Connecté à la réunion.");
    await publish();
  } catch (err) {
    console.error(err);
    if (state.leftLobby) announce("Vous avez quitté la salle d’attente.");
    else showError(err.message);
    state.leftLobby = false;
    if (!state.participantId) {
      moderation.reset();
      prejoin.reset();
      state.stream?.getTracks().forEach((t) => t.stop());
      ui.joinButton.disabled = state.bookingClosed; // cancelled or ended: no second try
      state.ws?.close();
      state.ws = null;
    }
  }
}

async function leave() {
  if (state.leaving) return;
  state.leaving = true;
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    const closed = new Promise((resolve) => state.ws.addEventListener("close", resolve));
    sendMessage({ type: "leave" });
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
  }
  teardown(null);
}

function teardown(errorText) {
  if (errorText) showError(errorText);
  clearInterval(state.pingTimer);
  state.leaving = true;
  state.ws?.close();
  state.send?.close();
  state.recv?.close();
  state.stream?.getTracks().forEach((t) => t.stop());
  state.local.screen?.track.stop();
  stopViews();
  ui.tiles.querySelectorAll(".tile.remote").forEach((tile) => tile.remove());
  state.participants.clear();
  meeting.reset();
  moderation.reset();
  ui.localVideo.srcObject = null;
  ui.conference.hidden = true;
  ui.ended.hidden = false;
  ui.ended.focus();
  announce("Vous avez quitté la réunion.");
}

// ---------------------------------------------------------------- start

// A booked conference is named by its title (before joining too); an ad-hoc room by its name.
function showTitle(title) {
  $("#room-name").textContent = title;
  document.title = `${title} – Webconf`;
}

// Before joining, a booked conference's title comes from its summary (docs/api.md,
// `GET /api/v1/rooms/{room}`; with the link's token for a restricted one). Any other
// room, or an answer that is not a title, leaves the room's name.
async function showBookedTitle() {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let summary;
  try {
    const response = await fetch(`/api/v1/rooms/${encodeURIComponent(room)}`, { headers, cache: "no-store" });
    if (!response.ok) return;
    summary = await response.json();
  } catch (err) {
    console.debug("snapconf: no room summary", err);
    return;
  }
  if (state.participantId) return;
  if (typeof summary?.title === "string" && summary.title) showTitle(summary.title);
  showBookingState(summary);
}

// A booked conference that is not open says when it starts; one cancelled or ended says
// so, and cannot be joined (the server would refuse it: docs/signaling.md).
function showBookingState(summary) {
  const notice = $("#booking-notice");
  const starts = Date.parse(summary?.startsAt);
  let text = "";
  if (summary?.status === "not_started" && starts) text = startsText(new Date(starts));
  else if (summary?.status === "cancelled") text = t("confCancelled");
  else if (summary?.status === "ended") text = t("confEnded");
  notice.textContent = text;
  notice.hidden = !text;
  if (summary?.status === "cancelled" || summary?.status === "ended") {
    state.bookingClosed = true;
    ui.joinButton.disabled = true;
    ui.joinButton.setAttribute("aria-describedby", "booking-notice");
  }
}

// "La réunion commence le 8 décembre à 14 h 00." in the browser's time zone (the year
// too when it is not this one); "on 8 December at 14:00" in English.
function startsText(date) {
  const locale = lang === "fr" ? "fr-FR" : "en-GB";
  const year = date.getFullYear() === new Date().getFullYear() ? {} : { year: "numeric" };
  const day = new Intl.DateTimeFormat(locale, { day: "numeric", month: "long", ...year }).format(date);
  const parts = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", hourCycle: "h23" })
    .formatToParts(date);
  const part = (type) => parts.find((p) => p.type === type)?.value || "";
  const hour = String(Number(part("hour")));
  const time = lang === "fr" ? `${hour} h ${part("minute")}` : `${hour}:${part("minute")}`;
  return t("startsOn", { date: day, time });
}

function start() {
  translatePage(); // French, or English when the browser's languages are not French
  showTitle(room);
  $("#rejoin").href = location.pathname + location.search;
  if (!ROOM_RE.test(room)) {
    showError("Nom de réunion invalide : 1 à 64 caractères parmi lettres, chiffres, « . », « _ » et « - ».");
    ui.joinButton.disabled = true;
    return;
  }
  showBookedTitle();
  ui.name.value = localStorage.getItem(NAME_KEY) || "";
  ui.form.addEventListener("submit", join);
  ui.mic.addEventListener("click", () => setMuted("audio", state.local.audio?.track.enabled));
  ui.camera.addEventListener("click", () => setMuted("video", state.local.video?.track.enabled));
  ui.screen.addEventListener("click", () => toggleScreen().catch((err) => showError(err.message)));
  ui.sound.addEventListener("click", () => {
    ui.tiles.querySelectorAll("audio").forEach((el) => el.play().catch(() => {}));
    ui.sound.hidden = true;
  });
  ui.mix.addEventListener("click", toggleMix);
  ui.leave.addEventListener("click", leave);
  window.addEventListener("pagehide", () => sendMessage({ type: "leave" }));
  document.addEventListener("visibilitychange", scheduleViews);
  // a zoom changes devicePixelRatio without resizing anything in CSS pixels
  window.addEventListener("resize", scheduleViews);
  prejoin.start();
  layout.start();
  ui.name.focus();
}

start();
