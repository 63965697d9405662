// The pre-join screen and the audio/video settings dialog: a camera preview, a microphone
// level meter (WebAudio AnalyserNode), the choice of camera, microphone and speaker
// (enumerateDevices; the speaker by HTMLMediaElement.setSinkId, hidden where the browser
// has none), and "join with the camera / the microphone off".
//
// A device turned off before joining is not opened at all, neither for the preview nor in
// the call (its light stays off, nothing is captured): room.js opens it, with the device
// chosen here, when the participant turns it on (`capture`).
//
// One set of device fields serves both: before joining they sit in the join form; once
// in, they move into the settings dialog, where a change replaces the sent track
// (RTCRtpSender.replaceTrack: no renegotiation).
//
// `deps`: {state, announce, showError, renderLocalTile, constraints: the camera's}

import { t } from "/static/i18n.js";

const $ = (selector) => document.querySelector(selector);
const KINDS = { videoinput: "camera", audioinput: "microphone", audiooutput: "speaker" };
const CHOICE_KEY = "snapconf.devices";
const CAMERA_OFF_KEY = "snapconf.joinCameraOff";
const MIC_OFF_KEY = "snapconf.joinMicOff";

export function createPrejoin(deps) {
  const { state } = deps;
  const ui = {
    video: $("#prejoin-video"),
    off: $("#prejoin-off"),
    meter: $("#mic-level"),
    fields: $("#device-fields"),
    camera: $("#select-camera"),
    microphone: $("#select-microphone"),
    speaker: $("#select-speaker"),
    speakerField: $("#field-speaker"),
    cameraOff: $("#join-camera-off"),
    micOff: $("#join-mic-off"),
    name: $("#display-name"),
    dialog: $("#settings-dialog"),
    dialogFields: $("#settings-fields"),
    settingsButton: $("#btn-settings"),
  };
  const pre = {
    stream: null, // the preview's stream; handed to room.js at join
    chain: Promise.resolve(null), // the previews opened so far, one after the other
    audio: null, // {context, analyser, source, data}
    frame: 0,
    inCall: false,
    chosen: readChosen(),
    listed: new Set(), // the device kinds enumerateDevices listed last ("audioinput"...)
  };

  function readChosen() {
    try {
      return JSON.parse(localStorage.getItem(CHOICE_KEY)) || {};
    } catch {
      return {};
    }
  }

  function remember() {
    localStorage.setItem(CHOICE_KEY, JSON.stringify(pre.chosen));
  }

  function constraints(kind) {
    const id = pre.chosen[kind];
    if (kind === "camera") return { ...deps.constraints, ...(id ? { deviceId: { exact: id } } : {}) };
    return id ? { deviceId: { exact: id } } : true;
  }

  // The kinds the participant joins with: not those turned off on the join form.
  function wanted() {
    return { audio: !ui.micOff.checked, video: !ui.cameraOff.checked };
  }

  // The preview's stream, with the chosen devices and only the wanted kinds; what the
  // browser allows of it (an empty stream when both are off, null when nothing opened).
  async function open() {
    const want = wanted();
    if (!want.audio && !want.video) return new MediaStream();
    const audio = want.audio && constraints("microphone");
    const video = want.video && constraints("camera");
    const tries = audio && video ? [{ audio, video }, { audio }, { video }] : [audio ? { audio } : { video }];
    // last, the browser's own choice (a chosen device may have gone away)
    tries.push({ ...(want.audio ? { audio: true } : {}), ...(want.video ? { video: deps.constraints } : {}) });
    for (const c of tries) {
      try {
        return await navigator.mediaDevices.getUserMedia(c);
      } catch (err) {
        console.warn("snapconf: preview getUserMedia", c, err);
        if (err.name === "OverconstrainedError") pre.chosen = {}; // a device that went away
      }
    }
    return null;
  }

  // One track of `kind` ("audio" or "video") from the chosen device, or the browser's own
  // when that one is gone: for a camera or microphone turned on in the call.
  async function capture(kind) {
    const name = kind === "video" ? "camera" : "microphone";
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints(name) });
    } catch (err) {
      if (err.name !== "OverconstrainedError") throw err;
      delete pre.chosen[name];
      stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints(name) });
    }
    const [track] = stream.getTracks();
    return track;
  }

  // Previews open one after the other: the last choice wins.
  function startPreview() {
    const run = pre.chain.then(openPreview);
    pre.chain = run.catch((err) => {
      console.warn("snapconf: preview", err);
      return null;
    });
    return pre.chain;
  }

  async function openPreview() {
    stopPreview();
    const stream = await open();
    pre.stream = stream;
    if (!stream) {
      deps.announce(t("devicesUnavailable"));
      return null;
    }
    if (!pre.inCall) ui.video.srcObject = stream;
    showCameraState();
    watchLevel(stream.getAudioTracks()[0]);
    await listDevices();
    return stream;
  }

  function stopPreview() {
    pre.stream?.getTracks().forEach((track) => track.stop());
    pre.stream = null;
  }

  function live(stream) {
    return stream && stream.getTracks().some((track) => track.readyState === "live");
  }

  // The preview has what the form asks for: no track of a kind turned off, one of each
  // kind turned on (when the browser gave it).
  function matches(stream) {
    const want = wanted();
    const has = { audio: stream.getAudioTracks().length > 0, video: stream.getVideoTracks().length > 0 };
    return (!has.audio || want.audio) && (!has.video || want.video) &&
      (has.audio || has.video || (!want.audio && !want.video));
  }

  // ---- the level meter

  function watchLevel(track) {
    cancelAnimationFrame(pre.frame);
    pre.audio?.source?.disconnect();
    if (!track) {
      ui.meter.value = 0;
      return;
    }
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!pre.audio) {
      const context = new Context();
      const analyser = context.createAnalyser();
      analyser.fftSize = 512;
      pre.audio = { context, analyser, source: null, data: new Float32Array(analyser.fftSize) };
      // a page without a gesture yet starts its audio suspended: the first one wakes it
      const wake = () => context.resume().catch(() => {});
      document.addEventListener("pointerdown", wake, { once: true });
      document.addEventListener("keydown", wake, { once: true });
      wake();
    }
    const { context, analyser, data } = pre.audio;
    if (context.state === "suspended") context.resume().catch(() => {});
    pre.audio.source = context.createMediaStreamSource(new MediaStream([track]));
    pre.audio.source.connect(analyser);
    const tick = () => {
      if (metering()) {
        analyser.getFloatTimeDomainData(data);
        let sum = 0;
        for (const v of data) sum += v * v;
        const rms = Math.sqrt(sum / data.length);
        // about -60 dBFS -> 0, 0 dBFS -> 1
        const level = Math.max(0, Math.min(1, 1 + (20 * Math.log10(rms || 1e-6)) / 60));
        ui.meter.value = track.enabled ? level : 0;
      }
      pre.frame = requestAnimationFrame(tick);
    };
    pre.frame = requestAnimationFrame(tick);
  }

  // In the call the meter runs only while the settings dialog shows it: an audio graph and
  // a per-frame loop in every page of a meeting cost CPU the media needs.
  function stopMeter() {
    cancelAnimationFrame(pre.frame);
    pre.frame = 0;
    pre.audio?.source?.disconnect();
    if (pre.audio) pre.audio.source = null;
    pre.audio?.context.suspend().catch(() => {});
  }

  function metering() {
    return !pre.inCall || ui.dialog.open;
  }

  // ---- the device lists

  async function listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch (err) {
      console.warn("snapconf: enumerateDevices", err);
    }
    // a kind listed without permission has one entry with an empty id: it is there
    pre.listed = new Set(devices.map((d) => d.kind));
    const using = currentDevices();
    for (const [kind, name] of Object.entries(KINDS)) {
      const select = ui[name];
      const options = devices.filter((d) => d.kind === kind && d.deviceId);
      const choices = options.map((d, i) => new Option(
        d.label || t("deviceN", { kind: t(name), n: i + 1 }), d.deviceId));
      if (name === "speaker") {
        const canChoose = "setSinkId" in HTMLMediaElement.prototype && choices.length > 0;
        ui.speakerField.hidden = !canChoose;
        choices.unshift(new Option(t("defaultDevice"), ""));
      }
      select.replaceChildren(...choices);
      select.disabled = choices.length === 0;
      const wanted = using[name] ?? pre.chosen[name] ?? "";
      if ([...select.options].some((o) => o.value === wanted)) select.value = wanted;
    }
  }

  // The devices of the tracks in use (the browser's choice when we made none).
  function currentDevices() {
    const out = {};
    const stream = pre.inCall ? state.stream : pre.stream;
    const video = pre.inCall ? state.local.video?.track : stream?.getVideoTracks()[0];
    const audio = pre.inCall ? state.local.audio?.track : stream?.getAudioTracks()[0];
    // a camera turned off in the call was released: the choice made since is the one
    if (video && !state.local.video?.released) out.camera = video.getSettings().deviceId;
    if (audio) out.microphone = audio.getSettings().deviceId;
    if (pre.chosen.speaker !== undefined) out.speaker = pre.chosen.speaker;
    return out;
  }

  async function onChoice(name) {
    pre.chosen[name] = ui[name].value;
    remember();
    if (name === "speaker") return applySpeaker();
    if (!pre.inCall) {
      await startPreview();
      return;
    }
    await replaceInCall(name);
  }

  // Mid-call: a new track from the chosen device replaces the one sent, on the same
  // sender, keeping its mute state; the server sees the same track.
  async function replaceInCall(name) {
    const kind = name === "camera" ? "video" : "audio";
    const entry = state.local[kind];
    // off, so never opened or released: turning it on opens the chosen one
    if (!entry || entry.released) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints(name) });
    } catch (err) {
      deps.showError(t("deviceFailed", { reason: err.message }));
      return;
    }
    const [track] = kind === "video" ? stream.getVideoTracks() : stream.getAudioTracks();
    if (state.local[kind] !== entry || entry.released) {
      track.stop(); // turned on or off meanwhile: the choice is remembered
      return;
    }
    track.enabled = entry.track.enabled;
    await entry.transceiver.sender.replaceTrack(track);
    const old = entry.track;
    entry.track = track;
    state.stream.removeTrack(old);
    state.stream.addTrack(track);
    old.stop();
    if (kind === "video") {
      const local = $("#local-video");
      local.srcObject = null;
      local.srcObject = state.stream;
    } else watchLevel(track);
    deps.renderLocalTile();
    deps.announce(t("deviceChanged", { kind: t(name), label: track.label || ui[name].selectedOptions[0]?.text || "" }));
  }

  function applySpeaker() {
    const id = pre.chosen.speaker || "";
    document.querySelectorAll("audio").forEach((el) => {
      if (el.setSinkId && el.sinkId !== id) el.setSinkId(id).catch((err) => console.warn("snapconf: setSinkId", err));
    });
  }

  // ---- camera and microphone off at join

  function showCameraState() {
    const off = ui.cameraOff.checked || !pre.stream?.getVideoTracks().length;
    ui.video.hidden = off;
    ui.off.hidden = !off;
    ui.off.textContent = initials(ui.name.value) || t("previewOff");
  }

  // A device turned off is closed at once; turned back on, it is opened again.
  function onOffChoice() {
    localStorage.setItem(CAMERA_OFF_KEY, String(ui.cameraOff.checked));
    localStorage.setItem(MIC_OFF_KEY, String(ui.micOff.checked));
    showCameraState();
    if (!pre.inCall && navigator.mediaDevices) startPreview();
  }

  function initials(name) {
    return name.trim().split(/\s+/).slice(0, 2).map((w) => w[0] || "").join("").toUpperCase();
  }

  // ---- the settings dialog (in the call)

  function openSettings() {
    if (ui.dialog.open) return;
    listDevices();
    watchLevel(state.local.audio?.track);
    ui.dialog.showModal(); // Escape closes it; the focus comes back to the button
  }

  // ---- what room.js calls

  return {
    // The stream to join with: the preview's, reopened if it was stopped meanwhile or
    // holds a kind turned off since. Without the kinds turned off: maybe empty.
    async stream() {
      await pre.chain;
      if (!pre.stream || !matches(pre.stream) || (pre.stream.getTracks().length && !live(pre.stream))) {
        await startPreview();
      }
      return pre.stream;
    },
    wanted,
    capture,
    // Whether this browser lists a device of `kind` ("audio" or "video"), opened or not.
    has(kind) {
      return pre.listed.has(kind === "audio" ? "audioinput" : "videoinput");
    },
    joined() {
      pre.inCall = true;
      stopMeter();
      ui.video.srcObject = null;
      pre.stream = null; // room.js owns it now (state.stream)
      ui.dialogFields.append(ui.fields);
      ui.settingsButton.hidden = false;
      applySpeaker();
    },
    // Back on the join form (a failed join, or after leaving).
    reset() {
      pre.inCall = false;
      if (ui.dialog.open) ui.dialog.close();
      ui.cameraOff.closest("form").querySelector("#prejoin-devices").append(ui.fields);
      if (navigator.mediaDevices) startPreview();
    },
    start() {
      ui.cameraOff.checked = localStorage.getItem(CAMERA_OFF_KEY) === "true";
      ui.micOff.checked = localStorage.getItem(MIC_OFF_KEY) === "true";
      for (const name of Object.values(KINDS)) {
        ui[name].addEventListener("change", () => onChoice(name).catch((err) => deps.showError(err.message)));
      }
      ui.cameraOff.addEventListener("change", onOffChoice);
      ui.micOff.addEventListener("change", onOffChoice);
      ui.name.addEventListener("input", showCameraState);
      ui.settingsButton.addEventListener("click", openSettings);
      $("#settings-close").addEventListener("click", () => ui.dialog.close());
      ui.dialog.addEventListener("close", () => { if (pre.inCall) stopMeter(); });
      navigator.mediaDevices?.addEventListener?.("devicechange", () => listDevices());
      // new <audio> elements play on the chosen speaker
      new MutationObserver(() => { if (pre.chosen.speaker) applySpeaker(); })
        .observe(document.body, { childList: true, subtree: true });
      if (navigator.mediaDevices) startPreview();
    },
  };
}
