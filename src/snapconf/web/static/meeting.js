// snapconf room page: the chat, the raised hands and the participants panel
// (docs/signaling.md: `chat`, `raiseHand`, `lowerHand`, `handRaised`, `joined.chat`,
// `joined.raisedHands`). room.js owns the socket and the tiles; it hands this module what
// it needs in `createMeeting` and passes it every server message (`onMessage`).
//
// Nothing a participant typed is ever parsed as HTML: names and messages go in with
// textContent, and links are <a> elements built here for http: and https: only.

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}»'"]+$/;
const TIME = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit" });
const MAX_MESSAGES_SHOWN = 500; // the server keeps as many (chat.history)

const CHAT_ERROR_TEXT = {
  chat_too_long: "Message trop long : 2000 caractères au plus.",
  chat_rate_limited: "Vous envoyez trop de messages : patientez quelques secondes.",
  unknown_participant: "Ce participant a quitté la réunion : message non envoyé.",
};

// Splits `text` into text nodes and safe links (http and https only, new tab, no referrer).
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let href = match[0];
    const trailing = href.match(TRAILING_PUNCTUATION);
    if (trailing) href = href.slice(0, -trailing[0].length);
    let url = null;
    try {
      url = new URL(href);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    fragment.append(document.createTextNode(text.slice(last, match.index)));
    const a = document.createElement("a");
    a.href = url.href;
    a.textContent = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    fragment.append(a);
    last = match.index + href.length;
  }
  fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// `deps`: {state, request, announce, phoneName, renderParticipantActions}
export function createMeeting(deps) {
  const { state, request, announce, phoneName } = deps;
  const $ = (selector) => document.querySelector(selector);
  const ui = {
    stage: $("#stage"),
    handButton: $("#btn-hand"),
    participantsButton: $("#btn-participants"),
    chatButton: $("#btn-chat"),
    chatUnread: $("#chat-unread"),
    participantsPanel: $("#participants-panel"),
    participantsCount: $("#participants-count"),
    participantsList: $("#participants-list"),
    handsList: $("#hands-list"),
    handsEmpty: $("#hands-empty"),
    chatPanel: $("#chat-panel"),
    messages: $("#chat-messages"),
    form: $("#chat-form"),
    to: $("#chat-to"),
    input: $("#chat-input"),
    chatError: $("#chat-error"),
  };
  const meeting = {
    roles: new Map(), // participant id -> role, from participant objects
    hands: [], // participant ids, first raised first
    speaking: new Set(),
    unread: 0,
    seen: new Set(), // message ids already shown
    names: new Map(), // participant id -> name, for the recipient selector
    renderPending: false,
  };

  // ------------------------------------------------------------ names

  function nameOf(id) {
    if (id === state.participantId) return "Vous";
    const p = state.participants.get(id);
    if (!p) return "Participant";
    return p.displayName || (p.kind === "phone" ? phoneName : "Participant");
  }

  function isPhone(id) {
    return state.participants.get(id)?.kind === "phone";
  }

  // ------------------------------------------------------------ panels

  function openPanel(which) {
    const panels = { participants: ui.participantsPanel, chat: ui.chatPanel };
    const buttons = { participants: ui.participantsButton, chat: ui.chatButton };
    const opening = panels[which].hidden;
    for (const [name, panel] of Object.entries(panels)) {
      const open = opening && name === which;
      panel.hidden = !open;
      buttons[name].setAttribute("aria-expanded", String(open));
    }
    ui.stage.classList.toggle("panel-open", opening);
    if (!opening) {
      buttons[which].focus();
      return;
    }
    if (which === "chat") {
      meeting.unread = 0;
      showUnread();
      renderRecipients();
      ui.messages.scrollTop = ui.messages.scrollHeight;
      ui.input.focus();
    } else {
      renderParticipants();
      ui.participantsPanel.querySelector("h2").focus();
    }
  }

  function closeOnEscape(event) {
    if (event.key !== "Escape") return;
    const open = [ui.participantsPanel, ui.chatPanel].find((panel) => !panel.hidden);
    if (!open) return;
    event.preventDefault();
    openPanel(open === ui.chatPanel ? "chat" : "participants");
  }

  // ------------------------------------------------------------ chat

  function appendMessage(message) {
    if (!message || typeof message.text !== "string" || meeting.seen.has(message.messageId)) return;
    meeting.seen.add(message.messageId);
    const own = message.from === state.participantId;
    const item = el("li", "chat-message");
    item.dataset.testid = "chat-message";
    item.dataset.messageId = message.messageId;
    item.classList.toggle("own", own);
    item.classList.toggle("private", Boolean(message.to));
    const meta = el("p", "chat-meta");
    meta.append(el("span", "chat-from", own ? "Vous" : message.fromName || "Participant"));
    if (message.to) {
      const toName = message.to === state.participantId ? "vous" : message.toName || "un participant";
      meta.append(el("span", "chat-private", ` en privé à ${toName}`));
    }
    const at = new Date(message.at);
    if (!Number.isNaN(at.getTime())) {
      const time = el("time", "chat-time", TIME.format(at));
      time.dateTime = message.at;
      meta.append(" ", time);
    }
    const body = el("p", "chat-text");
    body.dataset.testid = "chat-text";
    body.append(linkify(message.text));
    item.append(meta, body);
    const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
    ui.messages.append(item);
    while (ui.messages.childElementCount > MAX_MESSAGES_SHOWN) ui.messages.firstElementChild.remove();
    if (atBottom || own) ui.messages.scrollTop = ui.messages.scrollHeight;
    if (!own && ui.chatPanel.hidden) {
      meeting.unread += 1;
      showUnread();
    }
  }

  function showUnread() {
    ui.chatUnread.hidden = meeting.unread === 0;
    ui.chatUnread.textContent = meeting.unread ? `${meeting.unread} non lu${meeting.unread > 1 ? "s" : ""}` : "";
  }

  function renderRecipients() {
    const chosen = ui.to.value;
    const options = [new Option("Tout le monde", "")];
    for (const p of state.participants.values()) {
      if (p.kind === "phone") continue; // a phone cannot read
      meeting.names.set(p.id, nameOf(p.id));
      options.push(new Option(nameOf(p.id), p.id));
    }
    // a recipient who left stays chosen, marked, so that a private message is refused
    // rather than sent to everyone
    if (chosen && !options.some((o) => o.value === chosen)) {
      options.push(new Option(`${meeting.names.get(chosen) || "Participant"} (a quitté la réunion)`, chosen));
    }
    ui.to.replaceChildren(...options);
    ui.to.value = chosen;
  }

  async function sendChat(event) {
    event.preventDefault();
    const text = ui.input.value.trim();
    ui.chatError.textContent = "";
    if (!text) {
      ui.input.focus();
      return;
    }
    const message = { type: "chat", text };
    if (ui.to.value) message.to = ui.to.value;
    try {
      const copy = await request(message);
      ui.input.value = "";
      appendMessage(copy);
    } catch (err) {
      ui.chatError.textContent = CHAT_ERROR_TEXT[err.code] || err.message;
    }
    ui.input.focus();
  }

  function onInputKey(event) {
    // Enter sends, Shift+Enter starts a new line
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  }

  // ------------------------------------------------------------ raised hands

  function setHands(queue) {
    meeting.hands = Array.isArray(queue) ? queue.filter((id) => typeof id === "string") : [];
    const raised = meeting.hands.includes(state.participantId);
    ui.handButton.setAttribute("aria-pressed", String(raised));
    ui.handButton.textContent = raised ? "Baisser la main" : "Lever la main";
    markTiles();
  }

  function rank(id) {
    const index = meeting.hands.indexOf(id);
    return index < 0 ? null : index + 1;
  }

  async function toggleHand() {
    const raised = ui.handButton.getAttribute("aria-pressed") !== "true";
    try {
      const answer = await request({ type: "raiseHand", raised });
      setHands(answer.queue);
      scheduleRender();
      announce(raised ? `Main levée : vous êtes n° ${rank(state.participantId)}.` : "Main baissée.");
    } catch (err) {
      announce(err.message);
    }
  }

  async function lowerHand(id) {
    try {
      const answer = id === state.participantId
        ? await request({ type: "raiseHand", raised: false })
        : await request({ type: "lowerHand", participantId: id });
      setHands(answer.queue);
      scheduleRender();
      announce(id === state.participantId ? "Main baissée." : `Main de ${nameOf(id)} baissée.`);
      ui.participantsPanel.querySelector("h2").focus();
    } catch (err) {
      announce(err.message);
    }
  }

  // The hand on each tile (the local one included), with its rank.
  function markTiles() {
    document.querySelectorAll("#tiles .tile").forEach((tile) => {
      const id = tile.id === "local-tile" ? state.participantId : tile.dataset.participantId;
      const position = id ? rank(id) : null;
      let badge = tile.querySelector(".hand-indicator");
      if (!position) {
        badge?.remove();
        return;
      }
      if (!badge) {
        badge = el("span", "hand-indicator");
        badge.dataset.testid = "hand-indicator";
        tile.querySelector(".label")?.append(badge);
      }
      badge.textContent = `Main n° ${position}`;
      badge.title = `Main levée, n° ${position}`;
      badge.setAttribute("aria-label", `Main levée, n° ${position}`);
    });
  }

  // ------------------------------------------------------------ participants panel

  function trackStates(id) {
    if (id === state.participantId) {
      const audio = state.local.audio;
      const video = state.local.video;
      // off at join and never opened: "off" still when this browser has one to turn on
      return {
        mic: audio ? (audio.track.enabled ? "on" : "off") : state.available?.audio ? "off" : "none",
        camera: video ? (video.track.enabled ? "on" : "off") : state.available?.video ? "off" : "none",
      };
    }
    const tracks = [...(state.participants.get(id)?.tracks.values() || [])];
    const mic = tracks.find((t) => t.kind === "audio");
    const camera = tracks.find((t) => t.kind === "video" && t.source !== "screen");
    return {
      mic: mic ? (mic.muted ? "off" : "on") : "none",
      camera: camera ? (camera.muted ? "off" : "on") : "none",
    };
  }

  const MIC_TEXT = { on: "Micro ouvert", off: "Micro coupé", none: "Pas de micro" };
  const CAMERA_TEXT = { on: "Caméra active", off: "Caméra coupée", none: "Pas de caméra" };

  function participantRow(id) {
    const you = id === state.participantId;
    const p = you ? null : state.participants.get(id);
    const phone = Boolean(p && p.kind === "phone");
    const role = meeting.roles.get(id) || (you ? state.role : p?.role) || "participant";
    const info = { id, you, kind: phone ? "phone" : p?.kind || "browser", role, displayName: nameOf(id) };
    const row = el("li", "participant-row");
    row.dataset.testid = "participant-row";
    row.dataset.participantId = id;
    row.dataset.kind = info.kind;

    const who = el("p", "participant-who");
    if (phone) {
      const icon = el("span", "participant-icon", "☎");
      icon.setAttribute("aria-hidden", "true");
      who.append(icon);
    }
    const name = el("span", "participant-name", nameOf(id));
    name.dataset.testid = "panel-name";
    who.append(name);
    // a phone's name is its masked number, or "Téléphone" when the caller id has no digits
    if (phone && name.textContent !== phoneName) who.append(el("span", "visually-hidden", `, ${phoneName}`));
    if (role === "moderator") who.append(el("span", "participant-tag role", "Modérateur"));

    const states = el("p", "participant-states");
    const { mic, camera } = trackStates(id);
    const micState = el("span", `state mic-${mic}`, MIC_TEXT[mic]);
    micState.dataset.testid = "panel-mic";
    states.append(micState);
    if (!phone) {
      const cameraState = el("span", `state camera-${camera}`, CAMERA_TEXT[camera]);
      cameraState.dataset.testid = "panel-camera";
      states.append(cameraState);
    }
    const position = rank(id);
    if (position) {
      const hand = el("span", "state hand", `Main levée (n° ${position})`);
      hand.dataset.testid = "panel-hand";
      states.append(hand);
    }
    if (meeting.speaking.has(id)) {
      const talking = el("span", "state talking", "Parle");
      talking.dataset.testid = "panel-talking";
      states.append(talking);
    }
    const actions = el("div", "participant-actions");
    row.append(who, states, actions);
    deps.renderParticipantActions(actions, info);
    return row;
  }

  function renderParticipants() {
    if (!state.participantId) return;
    const ids = [state.participantId, ...state.participants.keys()];
    ui.participantsCount.textContent = `(${ids.length})`;
    // keep the keyboard focus where it was across a re-render
    const focused = document.activeElement;
    const focusedRow = ui.participantsList.contains(focused) ? focused.closest("[data-participant-id]") : null;
    ui.participantsList.replaceChildren(...ids.map(participantRow));
    const hands = meeting.hands.filter((id) => id === state.participantId || state.participants.has(id));
    ui.handsEmpty.hidden = hands.length > 0;
    ui.handsList.replaceChildren(
      ...hands.map((id) => {
        const item = el("li", "hand-entry");
        item.dataset.testid = "hand-entry";
        item.dataset.participantId = id;
        const name = el("span", "hand-name", nameOf(id));
        name.dataset.testid = "hand-name";
        item.append(name);
        // a moderator lowers any hand from the queue; everyone lowers their own
        if (meeting.roles.get(state.participantId) === "moderator" || id === state.participantId) {
          const lower = el("button", "lower-hand", "Baisser");
          lower.type = "button";
          lower.dataset.testid = "lower-hand";
          lower.setAttribute("aria-label", `Baisser la main de ${nameOf(id)}`);
          if (id === state.participantId) lower.setAttribute("aria-label", "Baisser votre main");
          lower.addEventListener("click", () => lowerHand(id));
          item.append(" ", lower);
        }
        return item;
      }),
    );
    if (focusedRow) {
      ui.participantsList.querySelector(`[data-participant-id="${CSS.escape(focusedRow.dataset.participantId)}"]`)
        ?.querySelector("button, [tabindex]")?.focus();
    }
  }

  // Several messages in a row re-render the panel once.
  function scheduleRender() {
    if (meeting.renderPending) return;
    meeting.renderPending = true;
    requestAnimationFrame(() => {
      meeting.renderPending = false;
      markTiles();
      if (!ui.participantsPanel.hidden) renderParticipants();
      if (!ui.chatPanel.hidden && document.activeElement !== ui.to) renderRecipients();
    });
  }

  function learnRoles(participants) {
    for (const p of participants || []) {
      if (p && typeof p.id === "string" && typeof p.role === "string") meeting.roles.set(p.id, p.role);
    }
  }

  // ------------------------------------------------------------ room.js hooks

  function onJoined(joined) {
    learnRoles([{ id: joined.participantId, role: joined.role }, ...(joined.participants || [])]);
    for (const message of joined.chat || []) appendMessage(message);
    meeting.unread = 0; // the history is not news
    showUnread();
    setHands(joined.raisedHands || []);
    scheduleRender();
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "chat":
        appendMessage(msg);
        // an open panel's message list announces itself (aria-live); a closed one is told here
        if (ui.chatPanel.hidden && msg.from !== state.participantId) {
          announce(`${msg.to ? "Message privé" : "Nouveau message"} de ${msg.fromName || "Participant"}.`);
        }
        break;
      case "handRaised":
        setHands(msg.queue);
        if (msg.participantId === state.participantId && !msg.raised && msg.by !== state.participantId) {
          announce("Un modérateur a baissé votre main.");
        } else if (msg.raised && msg.participantId !== state.participantId
            && meeting.roles.get(state.participantId) === "moderator") {
          announce(`${nameOf(msg.participantId)} lève la main (n° ${rank(msg.participantId)}).`);
        }
        break;
      case "participantJoined":
        learnRoles([msg.participant]);
        break;
      case "roleChanged": // a moderator promoted someone (maybe us)
        learnRoles([{ id: msg.participantId, role: msg.role }]);
        break;
      case "participantLeft":
        meeting.roles.delete(msg.participantId);
        meeting.speaking.delete(msg.participantId);
        setHands(meeting.hands.filter((id) => id !== msg.participantId));
        break;
      case "activeSpeakers":
        meeting.speaking = new Set(msg.participantIds || []);
        break;
      case "pong":
      case "stats":
        return;
      default:
        break;
    }
    scheduleRender();
  }

  function reset() {
    for (const panel of [ui.participantsPanel, ui.chatPanel]) panel.hidden = true;
    ui.participantsButton.setAttribute("aria-expanded", "false");
    ui.chatButton.setAttribute("aria-expanded", "false");
    ui.stage.classList.remove("panel-open");
    ui.messages.replaceChildren();
    ui.participantsList.replaceChildren();
    ui.handsList.replaceChildren();
    meeting.seen.clear();
    meeting.names.clear();
    meeting.roles.clear();
    meeting.speaking.clear();
    meeting.unread = 0;
    showUnread();
    setHands([]);
  }

  ui.handButton.addEventListener("click", toggleHand);
  ui.participantsButton.addEventListener("click", () => openPanel("participants"));
  ui.chatButton.addEventListener("click", () => openPanel("chat"));
  for (const close of document.querySelectorAll("[data-close-panel]")) {
    close.addEventListener("click", () => openPanel(close.dataset.closePanel));
  }
  ui.form.addEventListener("submit", sendChat);
  ui.input.addEventListener("keydown", onInputKey);
  document.addEventListener("keydown", closeOnEscape);

  return {
    onJoined,
    onMessage,
    reset,
    render: scheduleRender,
    get hands() { return [...meeting.hands]; },
  };
}
