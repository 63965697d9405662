// snapconf room page: the moderator's controls and the waiting room (docs/signaling.md,
// "Moderation").
//
// A moderator gets a "Modération" panel: the waiting list (Admettre / Refuser / Tout
// admettre), the waiting room on or off, the lock, "Couper tous les micros" and "Terminer
// pour tous"; and, in each row of the participants panel, the actions on that participant
// (`renderParticipantActions`). Everyone gets told, in French, what a moderator did to
// them. room.js creates it with what it needs and passes it every server message.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, testid, label, onClick) {
  const b = el("button", "moderation-action", text);
  b.type = "button";
  b.dataset.testid = testid;
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

const PHONE_NAME = "Téléphone";

// `deps`: {state, request, announce, showError, render (re-render the participants panel)}
export function createModeration(deps) {
  const { state, request, announce, showError } = deps;
  const $ = (selector) => document.querySelector(selector);
  const ui = {
    button: $("#btn-moderation"),
    badge: $("#lobby-count"),
    panel: $("#moderation-panel"),
    stage: $("#stage"),
    lobbyToggle: $("#btn-lobby"),
    lock: $("#btn-lock"),
    muteAll: $("#btn-mute-all"),
    endAll: $("#btn-end-all"),
    admitAll: $("#btn-admit-all"),
    waitingList: $("#waiting-list"),
    waitingEmpty: $("#waiting-empty"),
    lobbyWait: $("#lobby-wait"),
    lobbyLeave: $("#btn-lobby-leave"),
    joinForm: $("#join-form"),
  };
  const mod = { locked: false, lobby: false, waiting: [] };

  const isModerator = () => state.role === "moderator";

  async function act(message, done) {
    try {
      const answer = await request(message);
      if (done) announce(done);
      return answer;
    } catch (err) {
      showError(err.message);
      return null;
    }
  }

  // ------------------------------------------------------------ the moderation panel

  function render() {
    const moderator = isModerator() && Boolean(state.participantId);
    ui.button.hidden = !moderator;
    if (!moderator && !ui.panel.hidden) togglePanel();
    ui.lock.setAttribute("aria-pressed", String(mod.locked));
    ui.lock.textContent = mod.locked ? "Déverrouiller la réunion" : "Verrouiller la réunion";
    ui.lobbyToggle.setAttribute("aria-pressed", String(mod.lobby));
    ui.lobbyToggle.textContent = mod.lobby ? "Désactiver la salle d’attente" : "Activer la salle d’attente";
    const count = mod.waiting.length;
    ui.badge.hidden = count === 0;
    ui.badge.textContent = count ? String(count) : "";
    ui.badge.setAttribute("aria-label", `${count} en attente`);
    ui.waitingEmpty.hidden = count > 0;
    ui.admitAll.hidden = count < 2;
    ui.waitingList.replaceChildren(
      ...mod.waiting.map((w) => {
        const item = el("li", "waiting-entry");
        item.dataset.testid = "waiting-entry";
        item.dataset.participantId = w.id;
        const name = w.displayName || (w.kind === "phone" ? PHONE_NAME : "Participant");
        const who = el("span", "waiting-name", name);
        who.dataset.testid = "waiting-name";
        item.append(who);
        if (w.kind === "phone") item.append(el("span", "participant-tag", "(téléphone)"));
        item.append(
          " ",
          button("Admettre", "admit", `Admettre ${name}`, () =>
            act({ type: "admit", participantId: w.id }, `${name} est admis dans la réunion.`)),
          " ",
          button("Refuser", "refuse", `Refuser ${name}`, () =>
            act({ type: "refuse", participantId: w.id }, `${name} a été refusé.`)),
        );
        return item;
      }),
    );
  }

  function togglePanel() {
    const open = ui.panel.hidden;
    if (open) {
      // one side panel at a time: close the participants or the chat panel
      for (const other of document.querySelectorAll(".side-panel:not([hidden])")) {
        other.hidden = true;
        document.querySelector(`[aria-controls="${other.id}"]`)?.setAttribute("aria-expanded", "false");
      }
    }
    ui.panel.hidden = !open;
    ui.stage.classList.toggle("panel-open", open);
    ui.button.setAttribute("aria-expanded", String(open));
    if (open) ui.panel.querySelector("h2").focus();
    else ui.button.focus();
  }

  function closeOnEscape(event) {
    if (event.key === "Escape" && !ui.panel.hidden && ui.panel.contains(document.activeElement)) {
      togglePanel();
    }
  }

  // ------------------------------------------------------------ per participant

  // The actions on one participant, in its row of the participants panel (meeting.js).
  function renderParticipantActions(container, participant) {
    if (!isModerator() || participant.you) return;
    const name = participant.displayName || (participant.kind === "phone" ? PHONE_NAME : "Participant");
    const p = state.participants.get(participant.id);
    const tracks = p ? [...p.tracks.values()] : [];
    const mic = tracks.find((t) => t.kind === "audio");
    const camera = tracks.find((t) => t.kind === "video" && t.source !== "screen");
    const screen = tracks.find((t) => t.kind === "video" && t.source === "screen");
    const id = participant.id;
    const actions = [];
    if (mic && !mic.muted) {
      actions.push(button("Couper le micro", "mute-participant", `Couper le micro de ${name}`, () =>
        act({ type: "muteParticipant", participantId: id }, `Micro de ${name} coupé.`)));
    }
    // a browser that joined with its microphone off has none yet: it may be asked too
    if (mic ? mic.muted : participant.kind === "browser") {
      actions.push(button("Demander de réactiver le micro", "ask-unmute",
        `Demander à ${name} de réactiver son micro`, () =>
          act({ type: "askToUnmute", participantId: id }, `Demande envoyée à ${name}.`)));
    }
    if (camera && !camera.muted) {
      actions.push(button("Arrêter la caméra", "stop-camera", `Arrêter la caméra de ${name}`, () =>
        act({ type: "stopVideo", participantId: id, source: "camera" }, `Caméra de ${name} arrêtée.`)));
    }
    if (screen && !screen.muted) {
      actions.push(button("Arrêter le partage", "stop-screen", `Arrêter le partage d’écran de ${name}`, () =>
        act({ type: "stopVideo", participantId: id, source: "screen" }, `Partage de ${name} arrêté.`)));
    }
    if (participant.role !== "moderator" && participant.kind !== "phone") {
      actions.push(button("Nommer modérateur", "promote", `Nommer ${name} modérateur`, () =>
        act({ type: "promote", participantId: id }, `${name} est maintenant modérateur.`)));
    }
    actions.push(button("Retirer", "remove-participant", `Retirer ${name} de la réunion`, () => {
      if (!window.confirm(`Retirer ${name} de la réunion ? Il ne pourra pas revenir.`)) return;
      act({ type: "removeParticipant", participantId: id }, `${name} a été retiré de la réunion.`);
    }));
    for (const action of actions) container.append(action, " ");
  }

  // ------------------------------------------------------------ the waiting page

  // The waiting page takes the join form's place; leaving it (refused, gone) gives the
  // form back only if it took it: an error or a "left" in the meeting must not bring the
  // form back above the tiles (in a small window it pushed them to 0 px high: their
  // videos were reported unseen and the server stopped sending them).
  function showWaiting(waiting) {
    const wasWaiting = !ui.lobbyWait.hidden;
    ui.lobbyWait.hidden = !waiting;
    if (waiting) ui.joinForm.hidden = true;
    else if (wasWaiting) ui.joinForm.hidden = false;
    if (waiting) {
      announce("Veuillez patienter, un modérateur va vous faire entrer.");
      ui.lobbyWait.focus();
    }
  }

  // ------------------------------------------------------------ room.js hooks

  // at the join and at each resumed join after a reconnection: in the meeting, neither
  // the waiting page nor the join form is shown
  function onJoined(joined) {
    ui.lobbyWait.hidden = true;
    ui.joinForm.hidden = true;
    Object.assign(mod, joined.moderation || {});
    mod.waiting = joined.waiting || [];
    render();
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "lobby":
        showWaiting(msg.state === "waiting");
        break;
      case "lobbyChanged": {
        const before = new Set(mod.waiting.map((w) => w.id));
        mod.waiting = msg.waiting || [];
        const arrived = mod.waiting.filter((w) => !before.has(w.id));
        if (arrived.length === 1) announce(`${arrived[0].displayName} attend dans la salle d’attente.`);
        else if (arrived.length > 1) announce(`${arrived.length} personnes attendent dans la salle d’attente.`);
        render();
        break;
      }
      case "moderationChanged": {
        const locked = Boolean(msg.locked);
        const lobby = Boolean(msg.lobby);
        if (locked !== mod.locked) {
          announce(locked ? "La réunion est verrouillée : personne ne peut plus la rejoindre." : "La réunion est déverrouillée.");
        } else if (lobby !== mod.lobby) {
          announce(lobby ? "La salle d’attente est activée." : "La salle d’attente est désactivée.");
        }
        mod.locked = locked;
        mod.lobby = lobby;
        render();
        break;
      }
      case "roleChanged": {
        if (msg.participantId === state.participantId) {
          state.role = msg.role;
          announce("Vous êtes maintenant modérateur de la réunion.");
        } else {
          const p = state.participants.get(msg.participantId);
          if (p) p.role = msg.role;
        }
        render();
        deps.render();
        break;
      }
      case "unmuteRequested":
        deps.askedToUnmute();
        break;
      case "error":
      case "left":
        showWaiting(false);
        break;
      case "trackMuted":
      case "trackPublished":
      case "trackUnpublished":
        deps.render(); // the actions follow the tracks
        break;
      default:
        break;
    }
  }

  function reset() {
    if (!ui.panel.hidden) ui.stage.classList.remove("panel-open");
    ui.panel.hidden = true;
    ui.button.hidden = true;
    ui.button.setAttribute("aria-expanded", "false");
    mod.locked = false;
    mod.lobby = false;
    mod.waiting = [];
    showWaiting(false);
  }

  ui.button.addEventListener("click", togglePanel);
  ui.lobbyLeave.addEventListener("click", () => {
    deps.state.leftLobby = true; // the join's end is no error: room.js says "quitté"
    deps.sendMessage({ type: "leave" });
  });
  ui.panel.querySelector("[data-close-moderation]").addEventListener("click", togglePanel);
  document.addEventListener("keydown", closeOnEscape);
  ui.lock.addEventListener("click", () => act({ type: "setLocked", locked: !mod.locked }));
  ui.lobbyToggle.addEventListener("click", () => act({ type: "setLobby", enabled: !mod.lobby }));
  ui.muteAll.addEventListener("click", () => act({ type: "muteAll" }, "Tous les micros sont coupés, sauf ceux des modérateurs."));
  ui.admitAll.addEventListener("click", () => act({ type: "admit" }, "Tout le monde est admis."));
  ui.endAll.addEventListener("click", () => {
    if (!window.confirm("Terminer la réunion pour tout le monde ?")) return;
    deps.state.endingForAll = true;
    deps.sendMessage({ type: "endConference" });
  });

  return { onJoined, onMessage, reset, renderParticipantActions, render };
}
