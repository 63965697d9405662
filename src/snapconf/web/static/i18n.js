// The room page's words, in French (first) and English: `t(key, params)`.
//
// The language is the first of the browser's languages (navigator.languages) that is
// French or English, and English when it names neither (a reader of neither more likely
// reads English). `<html lang>` follows.
//
// The page's older modules (room.html, room.js, meeting.js, moderation.js) write their
// French sentences directly; in English, `translatePage()` turns every French sentence of
// this dictionary that appears in the page (text, aria-label, title, placeholder) into its
// English one, as it appears (a MutationObserver). Sentences with `{name}` parts are
// matched as patterns, and each part is translated in turn when it is itself a sentence.
// User-written text (chat messages, names typed in fields) is never touched.

const STRINGS = {
  // ---- room.html
  skipLink: ["Aller aux commandes", "Skip to the controls"],
  joinTitle: ["Rejoindre la réunion", "Join the meeting"],
  yourName: ["Votre nom", "Your name"],
  nameHint: ["Il sera affiché aux autres participants.", "It is shown to the other participants."],
  joinButton: ["Rejoindre", "Join"],
  lobbyTitle: ["Salle d’attente", "Waiting room"],
  lobbyText: ["Veuillez patienter, un modérateur va vous faire entrer.", "Please wait: a moderator will let you in."],
  lobbyLeave: ["Quitter la salle d’attente", "Leave the waiting room"],
  participants: ["Participants", "Participants"],
  closeParticipants: ["Fermer la liste des participants", "Close the participants list"],
  handsTitle: ["Mains levées, par ordre", "Raised hands, in order"],
  noHands: ["Aucune main levée.", "No raised hand."],
  everyone: ["Tout le monde", "Everyone"],
  moderationTitle: ["Modération", "Moderation"],
  closeModeration: ["Fermer la modération", "Close moderation"],
  nobodyWaits: ["Personne n’attend.", "Nobody is waiting."],
  admitAll: ["Tout admettre", "Admit everyone"],
  lobbyOn: ["Activer la salle d’attente", "Turn the waiting room on"],
  lobbyOff: ["Désactiver la salle d’attente", "Turn the waiting room off"],
  theMeeting: ["La réunion", "The meeting"],
  lock: ["Verrouiller la réunion", "Lock the meeting"],
  unlock: ["Déverrouiller la réunion", "Unlock the meeting"],
  muteAll: ["Couper tous les micros", "Mute every microphone"],
  endAll: ["Terminer pour tous", "End for everyone"],
  chat: ["Discussion", "Chat"],
  closeChat: ["Fermer la discussion", "Close the chat"],
  chatMessages: ["Messages de la réunion", "Meeting messages"],
  chatTo: ["Destinataire", "To"],
  chatInput: ["Votre message", "Your message"],
  chatHint: ["Entrée pour envoyer, Maj+Entrée pour aller à la ligne.", "Enter sends, Shift+Enter starts a new line."],
  send: ["Envoyer", "Send"],
  controls: ["Commandes de la réunion", "Meeting controls"],
  mute: ["Couper le micro", "Mute the microphone"],
  unmute: ["Activer le micro", "Unmute the microphone"],
  cameraOff: ["Couper la caméra", "Turn the camera off"],
  cameraOn: ["Activer la caméra", "Turn the camera on"],
  shareScreen: ["Partager l’écran", "Share the screen"],
  stopShare: ["Arrêter le partage", "Stop sharing"],
  mixTitle: ["Recevoir une seule piste audio mixée par le serveur (connexion faible)",
    "Receive one audio track mixed by the server (weak connection)"],
  mixOn: ["Son groupé (faible débit)", "Mixed sound (low bandwidth)"],
  mixOff: ["Son séparé", "Separate sound"],
  enableSound: ["Activer le son", "Turn the sound on"],
  raiseHand: ["Lever la main", "Raise your hand"],
  lowerHand: ["Baisser la main", "Lower your hand"],
  lowerYourHand: ["Baisser votre main", "Lower your hand"],
  leave: ["Quitter", "Leave"],
  ended: ["Vous avez quitté la réunion.", "You left the meeting."],
  rejoin: ["Rejoindre à nouveau", "Join again"],
  you: ["Vous", "You"],
  micMuted: ["Micro coupé", "Microphone off"],
  micMutedByModerator: ["Micro coupé par un modérateur", "Microphone muted by a moderator"],
  micOpen: ["Micro ouvert", "Microphone on"],
  noMic: ["Pas de micro", "No microphone"],
  cameraActive: ["Caméra active", "Camera on"],
  cameraMuted: ["Caméra coupée", "Camera off"],
  noCamera: ["Pas de caméra", "No camera"],
  phone: ["Téléphone", "Phone"],
  participant: ["Participant", "Participant"],
  aParticipant: ["Un participant", "A participant"],
  speaking: ["{name}, parle", "{name}, speaking"],
  // ---- room.js: statuses and errors
  accessMedia: ["Accès au micro et à la caméra…", "Opening the microphone and camera…"],
  connecting: ["Connexion au serveur…", "Connecting to the server…"],
  connected: ["Connecté à la réunion.", "Connected to the meeting."],
  socketClosed: ["Connexion au serveur fermée.", "Connection to the server closed."],
  socketFailed: ["Connexion au serveur impossible.", "Cannot connect to the server."],
  socketLost: ["La connexion au serveur a été perdue.", "The connection to the server was lost."],
  reconnecting: ["Connexion perdue : reconnexion en cours…", "Connection lost: reconnecting…"],
  reconnected: ["Reconnecté à la réunion.", "Reconnected to the meeting."],
  reconnectedNew: ["Reconnecté à la réunion (vous y revenez comme nouveau participant).",
    "Reconnected to the meeting (as a new participant)."],
  reconnectIncomplete: ["Reconnexion incomplète : {error}", "Reconnection incomplete: {error}"],
  mediaRestarting: ["Connexion audio et vidéo perdue : rétablissement en cours…",
    "Audio and video connection lost: restoring…"],
  mediaRestartFailed: ["Rétablissement des médias impossible : {error}", "Cannot restore the media: {error}"],
  otherReconnecting: ["{name} se reconnecte…", "{name} is reconnecting…"],
  tileReconnecting: ["Reconnexion…", "Reconnecting…"],
  replaced: ["Vous avez rejoint la réunion depuis une autre fenêtre ou un autre appareil.",
    "You joined the meeting from another window or device."],
  nameMissing: ["Indiquez votre nom pour rejoindre la réunion.", "Enter your name to join the meeting."],
  micUnavailable: ["Micro inaccessible : {reason}", "Microphone unavailable: {reason}"],
  cameraUnavailable: ["Caméra inaccessible : {reason}", "Camera unavailable: {reason}"],
  noMedia: ["Micro et caméra inaccessibles : vous rejoignez sans les partager.",
    "Microphone and camera unavailable: you join without them."],
  badRoom: ["Nom de réunion invalide : 1 à 64 caractères parmi lettres, chiffres, « . », « _ » et « - ».",
    "Invalid meeting name: 1 to 64 letters, digits, “.”, “_” and “-”."],
  protocol: ["Le navigateur et le serveur ne se sont pas compris. Rechargez la page.",
    "The browser and the server did not understand each other. Reload the page."],
  alreadyJoined: ["Vous êtes déjà dans cette réunion.", "You are already in this meeting."],
  unknownTrack: ["Ce micro ou cette caméra n’est plus partagé.", "This microphone or camera is no longer shared."],
  tooLarge: ["Le serveur a refusé un message trop long.", "The server refused a message that was too long."],
  roomFull: ["La réunion est complète : le nombre maximum de participants est atteint.",
    "The meeting is full: the maximum number of participants is reached."],
  authRequired: ["Cette réunion demande une invitation : utilisez le lien reçu de l’organisateur.",
    "This meeting needs an invitation: use the link the organiser sent you."],
  authInvalid: ["Votre lien d’invitation n’est pas valide.", "Your invitation link is not valid."],
  authExpired: ["Votre lien d’invitation a expiré : demandez-en un nouveau à l’organisateur.",
    "Your invitation link has expired: ask the organiser for a new one."],
  roomMismatch: ["Votre lien d’invitation concerne une autre réunion.", "Your invitation link is for another meeting."],
  notFound: ["Cette réunion n’existe pas : vérifiez le lien reçu.", "This meeting does not exist: check the link you received."],
  notStarted: ["La réunion n’est pas encore ouverte.", "The meeting is not open yet."],
  opensAt: ["{notStarted} Elle ouvre le {when}.", "{notStarted} It opens on {when}."],
  confEnded: ["Cette réunion est terminée.", "This meeting has ended."],
  confCancelled: ["Cette réunion a été annulée par son organisateur.", "This meeting was cancelled by its organiser."],
  startsOn: ["La réunion commence le {date} à {time}.", "The meeting starts on {date} at {time}."],
  badSdp: ["Le serveur n’a pas pu accepter le micro ou la caméra de ce navigateur.",
    "The server could not accept this browser’s microphone or camera."],
  badCodec: ["Le serveur ne peut pas transmettre le format audio ou vidéo de ce navigateur.",
    "The server cannot forward this browser’s audio or video format."],
  tooManyTracks: ["Vous partagez déjà autant de pistes que la réunion le permet.",
    "You already share as many tracks as the meeting allows."],
  tooManyFromAddress: ["Trop de participants se connectent depuis votre réseau.", "Too many participants connect from your network."],
  chatTooLong: ["Message trop long : 2000 caractères au plus.", "Message too long: 2000 characters at most."],
  chatRate: ["Vous envoyez trop de messages : patientez quelques secondes.", "You send too many messages: wait a few seconds."],
  notModerator: ["Seul un modérateur peut faire cela.", "Only a moderator can do that."],
  unknownParticipant: ["Ce participant n’est plus dans la réunion.", "This participant is no longer in the meeting."],
  locked: ["La réunion est verrouillée par un modérateur : personne ne peut plus la rejoindre.",
    "A moderator locked the meeting: nobody can join it any more."],
  removedJoin: ["Un modérateur vous a retiré de cette réunion : vous ne pouvez pas la rejoindre à nouveau.",
    "A moderator removed you from this meeting: you cannot join it again."],
  refused: ["Un modérateur n’a pas accepté votre entrée dans la réunion.", "A moderator did not let you into the meeting."],
  internal: ["Le serveur a rencontré une erreur. Réessayez dans un instant.", "The server met an error. Try again in a moment."],
  refusedDefault: ["Le serveur a refusé la demande. Réessayez dans un instant.", "The server refused the request. Try again in a moment."],
  mediaLost: ["La connexion audio et vidéo avec le serveur a été perdue.", "The audio and video connection with the server was lost."],
  removed: ["Un modérateur vous a retiré de la réunion.", "A moderator removed you from the meeting."],
  endedByModerator: ["Un modérateur a terminé la réunion pour tout le monde.", "A moderator ended the meeting for everyone."],
  meetingEnded: ["La réunion est terminée.", "The meeting has ended."],
  meetingCancelled: ["La réunion a été annulée par son organisateur.", "The meeting was cancelled by its organiser."],
  restarting: ["Le serveur redémarre : rejoignez la réunion dans un instant.", "The server is restarting: join again in a moment."],
  joinTimeout: ["La connexion a été fermée : la réunion n’a pas été rejointe à temps.",
    "The connection was closed: the meeting was not joined in time."],
  mediaTimeout: ["L’audio et la vidéo n’ont pas pu s’établir avec le serveur : un pare-feu bloque peut-être le port UDP de la réunion.",
    "Audio and video could not be set up with the server: a firewall may block the meeting’s UDP port."],
  closedTooLarge: ["Le serveur a fermé la connexion après un message trop long.", "The server closed the connection after a message that was too long."],
  disconnected: ["Vous avez été déconnecté de la réunion.", "You were disconnected from the meeting."],
  recvFailed: ["La connexion média de réception a échoué.", "The receiving media connection failed."],
  sendFailed: ["La connexion média d’envoi a échoué.", "The sending media connection failed."],
  recvImpossible: ["Réception des médias impossible : {reason}", "Cannot receive media: {reason}"],
  screenImpossible: ["Partage d’écran impossible : {reason}", "Cannot share the screen: {reason}"],
  rejected: ["{what} : {why}.", "{what}: {why}."],
  micNotShared: ["Votre micro n’a pas pu être partagé", "Your microphone could not be shared"],
  cameraNotShared: ["Votre caméra n’a pas pu être partagée", "Your camera could not be shared"],
  screenNotShared: ["Votre partage d’écran n’a pas pu être partagé", "Your screen share could not be shared"],
  noCodec: ["le serveur ne prend aucun des codecs du navigateur", "the server takes none of the browser’s codecs"],
  trackStopped: ["le navigateur a arrêté la piste", "the browser stopped the track"],
  notSending: ["le navigateur ne l’envoie pas", "the browser does not send it"],
  unsupported: ["ce type de média n’est pas pris en charge", "this kind of media is not supported"],
  joined: ["{name} a rejoint la réunion.", "{name} joined the meeting."],
  left: ["{name} a quitté la réunion.", "{name} left the meeting."],
  ending: ["La réunion se termine dans {n} secondes.", "The meeting ends in {n} seconds."],
  leftLobby: ["Vous avez quitté la salle d’attente.", "You left the waiting room."],
  mixAnnounce: ["Son groupé : une seule piste audio pour toute la réunion.", "Mixed sound: one audio track for the whole meeting."],
  tracksAnnounce: ["Son séparé par participant.", "Separate sound for each participant."],
  screenStopped: ["Un modérateur a arrêté votre partage d’écran.", "A moderator stopped your screen share."],
  cameraStopped: ["Un modérateur a coupé votre caméra. Vous pouvez la réactiver.", "A moderator turned your camera off. You may turn it on again."],
  askedUnmute: ["Un modérateur vous demande de réactiver votre micro. Vous seul pouvez le faire.",
    "A moderator asks you to unmute your microphone. Only you can do it."],
  // ---- meeting.js
  inPrivateTo: ["en privé à {name}", "privately to {name}"],
  unread1: ["{n} non lu", "{n} unread"],
  unreadN: ["{n} non lus", "{n} unread"],
  whoLeft: ["{name} (a quitté la réunion)", "{name} (left the meeting)"],
  handRaisedRank: ["Main levée : vous êtes n° {n}.", "Hand raised: you are number {n}."],
  handLowered: ["Main baissée.", "Hand lowered."],
  handOfLowered: ["Main de {name} baissée.", "{name}’s hand lowered."],
  handNumber: ["Main n° {n}", "Hand #{n}"],
  handRaisedNumber: ["Main levée, n° {n}", "Hand raised, #{n}"],
  handRaisedParen: ["Main levée (n° {n})", "Hand raised (#{n})"],
  lowerHandOf: ["Baisser la main de {name}", "Lower {name}’s hand"],
  newMessageFrom: ["Nouveau message de {name}.", "New message from {name}."],
  privateMessageFrom: ["Message privé de {name}.", "Private message from {name}."],
  raisesHand: ["{name} lève la main (n° {n}).", "{name} raises their hand (#{n})."],
  handLoweredByModerator: ["Un modérateur a baissé votre main.", "A moderator lowered your hand."],
  recipientLeft: ["Ce participant a quitté la réunion : message non envoyé.", "This participant left the meeting: message not sent."],
  // ---- moderation.js
  waitingCount: ["{n} en attente", "{n} waiting"],
  admit: ["Admettre", "Admit"],
  admitName: ["Admettre {name}", "Admit {name}"],
  admitted: ["{name} est admis dans la réunion.", "{name} is admitted to the meeting."],
  refuse: ["Refuser", "Refuse"],
  refuseName: ["Refuser {name}", "Refuse {name}"],
  refusedName: ["{name} a été refusé.", "{name} was refused."],
  muteOf: ["Couper le micro de {name}", "Mute {name}’s microphone"],
  mutedOf: ["Micro de {name} coupé.", "{name}’s microphone muted."],
  askUnmute: ["Demander de réactiver le micro", "Ask to unmute"],
  askUnmuteOf: ["Demander à {name} de réactiver son micro", "Ask {name} to unmute their microphone"],
  askSent: ["Demande envoyée à {name}.", "Request sent to {name}."],
  stopCamera: ["Arrêter la caméra", "Stop the camera"],
  stopCameraOf: ["Arrêter la caméra de {name}", "Stop {name}’s camera"],
  cameraOfStopped: ["Caméra de {name} arrêtée.", "{name}’s camera stopped."],
  stopShareOf: ["Arrêter le partage d’écran de {name}", "Stop {name}’s screen share"],
  shareOfStopped: ["Partage de {name} arrêté.", "{name}’s screen share stopped."],
  promote: ["Nommer modérateur", "Make moderator"],
  promoteName: ["Nommer {name} modérateur", "Make {name} a moderator"],
  promoted: ["{name} est maintenant modérateur.", "{name} is now a moderator."],
  remove: ["Retirer", "Remove"],
  removeName: ["Retirer {name} de la réunion", "Remove {name} from the meeting"],
  removeConfirm: ["Retirer {name} de la réunion ? Il ne pourra pas revenir.", "Remove {name} from the meeting? They will not be able to come back."],
  removedName: ["{name} a été retiré de la réunion.", "{name} was removed from the meeting."],
  waitingOne: ["{name} attend dans la salle d’attente.", "{name} is waiting in the waiting room."],
  waitingMany: ["{n} personnes attendent dans la salle d’attente.", "{n} people are waiting in the waiting room."],
  endConfirm: ["Terminer la réunion pour tout le monde ?", "End the meeting for everyone?"],
  mutedAll: ["Tous les micros sont coupés, sauf ceux des modérateurs.", "Every microphone is muted, except the moderators’."],
  admittedAll: ["Tout le monde est admis.", "Everyone is admitted."],
  unlocked: ["La réunion est déverrouillée.", "The meeting is unlocked."],
  lockedNow: ["La réunion est verrouillée : personne ne peut plus la rejoindre.", "The meeting is locked: nobody can join it any more."],
  lobbyEnabled: ["La salle d’attente est activée.", "The waiting room is on."],
  lobbyDisabled: ["La salle d’attente est désactivée.", "The waiting room is off."],
  nowModerator: ["Vous êtes maintenant modérateur de la réunion.", "You are now a moderator of the meeting."],
  moderatorRole: ["Modérateur", "Moderator"],
  talking: ["Parle", "Speaking"],
  lower: ["Baisser", "Lower"],
  // ---- prejoin.js
  preview: ["Aperçu de votre caméra", "Your camera preview"],
  previewOff: ["Caméra coupée", "Camera off"],
  micLevel: ["Niveau du micro", "Microphone level"],
  camera: ["Caméra", "Camera"],
  microphone: ["Micro", "Microphone"],
  speaker: ["Haut-parleur", "Speaker"],
  defaultDevice: ["Par défaut", "Default"],
  deviceN: ["{kind} {n}", "{kind} {n}"],
  joinCameraOff: ["Rejoindre avec la caméra coupée", "Join with the camera off"],
  joinMicOff: ["Rejoindre avec le micro coupé", "Join with the microphone off"],
  devicesUnavailable: ["Micro et caméra inaccessibles pour l’aperçu.", "Microphone and camera unavailable for the preview."],
  settings: ["Réglages", "Settings"],
  settingsTitle: ["Réglages audio et vidéo", "Audio and video settings"],
  close: ["Fermer", "Close"],
  deviceChanged: ["{kind} changé : {label}.", "{kind} changed: {label}."],
  deviceFailed: ["Impossible d’utiliser ce périphérique : {reason}", "Cannot use this device: {reason}"],
  // ---- layout.js
  layout: ["Disposition", "Layout"],
  layoutGrid: ["Mosaïque", "Grid"],
  layoutSpeaker: ["Orateur", "Speaker"],
  layoutPresentation: ["Présentation", "Presentation"],
  layoutChanged: ["Disposition : {name}.", "Layout: {name}."],
  previousPage: ["Page précédente", "Previous page"],
  nextPage: ["Page suivante", "Next page"],
  pageOf: ["Page {page} sur {pages}", "Page {page} of {pages}"],
  hideSelf: ["Masquer ma vidéo", "Hide my video"],
  showSelf: ["Afficher ma vidéo", "Show my video"],
  presentationStarted: ["{name} partage son écran.", "{name} shares their screen."],
};

function pick() {
  const langs = (navigator.languages && navigator.languages.length)
    ? navigator.languages : [navigator.language || "fr"];
  for (const lang of langs) {
    const l = String(lang).toLowerCase();
    if (l === "fr" || l.startsWith("fr-")) return "fr";
    if (l === "en" || l.startsWith("en-")) return "en";
  }
  return "en";
}

export const lang = pick();
const INDEX = lang === "fr" ? 0 : 1;

// The sentence `key` in the page's language, its `{part}`s replaced from `params`.
export function t(key, params = {}) {
  const entry = STRINGS[key];
  if (!entry) {
    console.warn("snapconf: no text for", key);
    return key;
  }
  return entry[INDEX].replace(/\{(\w+)\}/g, (all, name) => (name in params ? String(params[name]) : all));
}

// ---------------------------------------------------------------- the older modules' French

const norm = (s) => s.replace(/\s+/g, " ").trim();
let exact = null; // French sentence -> English
let patterns = null; // [{re, names, en}]

function build() {
  exact = new Map();
  patterns = [];
  for (const [fr, en] of Object.values(STRINGS)) {
    if (fr === en) continue;
    if (!fr.includes("{")) {
      exact.set(norm(fr), en);
      continue;
    }
    const names = [];
    const source = fr.split(/(\{\w+\})/).map((part) => {
      const m = /^\{(\w+)\}$/.exec(part);
      if (!m) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(m[1]);
      return "(.+?)";
    }).join("");
    patterns.push({ re: new RegExp(`^${source}$`), names, en });
  }
  patterns.sort((a, b) => b.re.source.length - a.re.source.length); // most specific first
}

// The English of a French sentence of this dictionary, or null.
export function english(text, depth = 0) {
  if (!exact) build();
  const key = norm(text);
  if (!key || depth > 3) return null;
  if (exact.has(key)) return exact.get(key);
  for (const { re, names, en } of patterns) {
    const m = re.exec(key);
    if (!m) continue;
    const values = {};
    names.forEach((name, i) => { values[name] = english(m[i + 1], depth + 1) ?? m[i + 1]; });
    return en.replace(/\{(\w+)\}/g, (all, name) => values[name] ?? all);
  }
  return null;
}

const ATTRIBUTES = ["aria-label", "title", "placeholder"];
// user-written text and what the page's scripts read back stay as they are
const UNTOUCHED = ".chat-text, .chat-from, .participant-name, .tile.remote .name, .waiting-name, #room-name, script, style, textarea";

const OWN_NAMES = new Set(["Vous", "Participant", "Un participant", "Téléphone"]);

function translateNode(node) {
  if (node.nodeType === Node.TEXT_NODE) {
    const parent = node.parentElement;
    if (!parent) return;
    // in a name's place, only the page's own words ("Vous", "Téléphone"...) change
    if (parent.closest(UNTOUCHED) && !OWN_NAMES.has(norm(node.data))) return;
    const en = english(node.data);
    if (en !== null) {
      const lead = /^\s*/.exec(node.data)[0];
      const trail = /\s*$/.exec(node.data)[0];
      node.data = lead + en + trail;
    }
    return;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  const elements = [node, ...node.querySelectorAll("*")];
  for (const el of elements) {
    for (const name of ATTRIBUTES) {
      const value = el.getAttribute(name);
      const en = value && english(value);
      if (en) el.setAttribute(name, en);
    }
  }
  const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) translateNode(text);
}

// In English, translates the page now and whatever the scripts write into it later.
export function translatePage(root = document.body) {
  document.documentElement.lang = lang;
  if (lang === "fr") return;
  translateNode(root);
  const observer = new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "characterData") translateNode(record.target);
      else if (record.type === "attributes") {
        const value = record.target.getAttribute(record.attributeName);
        const en = value && english(value);
        if (en) record.target.setAttribute(record.attributeName, en);
      } else record.addedNodes.forEach(translateNode);
    }
  });
  observer.observe(root, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ATTRIBUTES,
  });
  const confirm = window.confirm.bind(window);
  window.confirm = (text) => confirm(english(String(text)) ?? text);
}
