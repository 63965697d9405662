"""The IVR of a call: welcome, PIN entry, the join, and the in-call digits.

One :class:`Ivr` per call, run once the dialog is confirmed. It hears digits and plays
prompts through the call's :class:`~snapconf.dialin.media_leg.MediaLeg`, looks PINs up in
the directory within the :class:`~snapconf.dialin.protection.PinGuard` budgets, and joins
the conference through the :class:`~snapconf.dialin.bridge.ConferenceBridge`. It ends the
call only through its :class:`Caller`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from snapconf.clock import Clock
from snapconf.dialin.bridge import (
    ConferenceBridge,
    ConferenceFull,
    ConferenceLeg,
    JoinRefused,
    PhoneMedia,
    mask_number,
)
from snapconf.dialin.config import SipConfig
from snapconf.dialin.directory import ConferenceDirectory, ConferenceState
from snapconf.dialin.media_leg import MediaLeg
from snapconf.dialin.prompts import count_prompts
from snapconf.dialin.protection import GLOBAL, Allowlist, PinFailures, PinGuard
from snapconf.dialin.sdp import Negotiated

__all__ = ["Caller", "Ivr", "IvrServices"]

#: seconds of silence between two "veuillez patienter" while the waiting room holds a call
LOBBY_PROMPT_INTERVAL = 8.0
#: the prompt a caller hears when the conference refuses it, by refusal code
REFUSAL_PROMPTS = {"conference_locked": "locked", "refused": "refused", "removed": "removed"}
#: the prompt a caller hears before the conference hangs it up, by reason
END_PROMPTS = {"removed": "removed", "ended_by_moderator": "ended"}


@dataclass(frozen=True, slots=True)
class IvrServices:
    """What the IVRs of all calls share (the gateway makes one)."""

    config: SipConfig
    clock: Clock
    stats: Counter[str]
    directory: ConferenceDirectory
    bridge: ConferenceBridge
    pin_guard: PinGuard
    allowlist: Allowlist
    #: wrong PINs per number dialed (see :meth:`Ivr.run`)
    access_failures: PinFailures
    #: count and log a refusal: ``note_refusal(kind, host)``
    note_refusal: Callable[[str, str], None]


class Caller(Protocol):
    """The call as its IVR sees it."""

    @property
    def ended(self) -> bool: ...

    def hangup(self, reason: str) -> None:
        """End the call from our side (BYE)."""
        ...


class Ivr:
    """PIN entry and conference membership of one call."""

    def __init__(
        self,
        services: IvrServices,
        media: MediaLeg,
        call: Caller,
        *,
        host: str,
        dialed: str,
        caller_number: str,
        caller_display: str,
        negotiated: Callable[[], Negotiated],
    ) -> None:
        self.services = services
        self.media = media
        self.call = call
        #: the address the INVITE came from (PIN budgets are per source, never per number)
        self.host = host
        self.dialed = dialed
        self.caller_number = caller_number
        self.caller_display = caller_display
        self._negotiated = negotiated
        self.leg: ConferenceLeg | None = None
        self.conference_id: str | None = None
        self.muted = False
        self.pins_tried = 0
        self._left = False
        #: the join in progress (it may wait in the conference's waiting room)
        self._joining: asyncio.Future[ConferenceLeg] | None = None
        #: the last prompt before a moderator's hang-up
        self._ending: asyncio.Future[None] | None = None
        #: says what moderators do to the caller, while it is in the conference
        self._notices: asyncio.Future[None] | None = None

    async def _collect_pin(self) -> str | None:
        """Digits up to ``#``: 10 s to the first, 5 s between digits; ``*`` starts over.
        An inter-digit timeout submits what was typed; no digit at all gives None."""
        config = self.services.config
        pin = ""
        timeout = config.first_digit_timeout
        while True:
            digit = await self.media.next_digit(timeout)
            if digit is None:
                return pin or None
            if digit == "#":
                return pin
            if digit == "*":
                pin = ""
                timeout = config.first_digit_timeout
                continue
            if digit.isdigit():
                pin += digit
                if len(pin) > 32:
                    return pin
            timeout = config.inter_digit_timeout

    async def _refused(self) -> bool:
        """End the call if PIN entry is refused now (:class:`~snapconf.dialin.protection.
        PinGuard`): a locked source or trunk hears "trop de tentatives, au revoir", everyone
        during the global refusal "le service est momentanément indisponible, au revoir";
        then BYE. Counted as ``pin_refused_<budget>``."""
        s = self.services
        host = self.host
        kind = s.pin_guard.refusal(host, host in s.allowlist, s.clock.now())
        if kind is None:
            return False
        s.note_refusal(f"pin_refused_{kind}", host)
        await self.media.play(["unavailable" if kind == GLOBAL else "too_many"])
        self.call.hangup(f"PIN entry refused ({kind})")
        return True

    async def run(self) -> None:
        """Welcome, then up to ``pin_attempts`` PINs.

        Wrong PINs are counted per source address, per trunk address and across all sources
        (:class:`~snapconf.dialin.protection.PinGuard`), never per caller number, which the
        caller chooses: a growing delay before "wrong code", then PIN entry refused for a
        while. The budgets are checked when the call starts, before each PIN is looked up
        (another call from the same source may have spent them) and after a right one, so no
        answer is heard once they are spent. A wrong PIN names no conference, so the
        conference side is counted per number dialed (a conference's access line): it adds a
        growing delay to wrong attempts only, never a lock-out, which would let anyone lock
        every caller of that line out.
        """
        s = self.services
        call = self.call
        play = self.media.play
        host = self.host
        trunk = host in s.allowlist
        access_key = f"dialed:{self.dialed}"
        if await self._refused():
            return
        prompt = ["welcome"]
        for _ in range(s.config.pin_attempts):
            await play(prompt, interruptible=True)
            prompt = ["enter_code"]
            pin = await self._collect_pin()
            if call.ended:
                return
            if not pin:
                continue
            if await self._refused():
                return
            self.pins_tried += 1
            entry = await s.directory.lookup(pin)
            if call.ended:
                return
            if entry is None:
                now = s.clock.now()
                delay = s.pin_guard.delay(host, trunk, now) + s.access_failures.delay(
                    access_key, now
                ) / 5
                spent = s.pin_guard.record(host, trunk, now)
                s.access_failures.record(access_key, now)
                s.stats["pin_failures"] += 1
                if spent is not None:
                    s.note_refusal(f"pin_lockout_{spent}", host)
                if delay > 0:
                    await s.clock.sleep_until(now + min(delay, 10.0))
                kind = s.pin_guard.refusal(host, trunk, s.clock.now())
                if kind == GLOBAL:
                    await play(["unavailable"])
                    call.hangup("PIN entry refused (global)")
                    return
                if kind is not None:
                    break
                await play(["wrong_code"])
                continue
            if await self._refused():
                return
            if entry.state is ConferenceState.NOT_STARTED:
                await play(["not_started"])
                call.hangup("conference not started")
                return
            if entry.state is ConferenceState.ENDED:
                await play(["ended"])
                call.hangup("conference ended")
                return
            await self._join(entry.conference_id)
            return
        s.stats["pin_too_many"] += 1
        await play(["too_many"])
        call.hangup("too many attempts")

    async def _join(self, conference_id: str) -> None:
        n = self._negotiated()
        rtp = self.media.rtp
        assert rtp is not None
        media = PhoneMedia(
            rtp,
            n.codec.name,
            n.payload_type,
            n.codec.clock_rate,
            self.media.ptime,
            audio_level_id=n.audio_level_id,
        )
        waiting = asyncio.Event()
        self._joining = asyncio.ensure_future(
            self.services.bridge.join_phone(
                conference_id,
                self.caller_display,
                mask_number(self.caller_number),
                media,
                self._on_bridge_end,
                on_waiting=waiting.set,
            )
        )
        try:
            leg = await self._wait_for_join(self._joining, waiting)
        except JoinRefused as exc:
            # the conference's reason, in French: locked, refused at the waiting room,
            # removed; anything else (full, ended meanwhile) is "unavailable"
            prompt = REFUSAL_PROMPTS.get(exc.code, "unavailable")
            self.services.stats[f"join_refused_{exc.code or 'other'}"] += 1
            await self.media.play([prompt])
            self.call.hangup("conference full" if isinstance(exc, ConferenceFull) else "refused")
            return
        if self.call.ended:
            leg.close()
            return
        self.leg = leg
        self.conference_id = conference_id
        self.services.stats["calls_joined"] += 1
        await self.media.play(count_prompts(leg.participant_count))
        notices = getattr(leg, "notices", None)  # a bridge may tell nothing
        if isinstance(notices, asyncio.Queue):
            self._notices = asyncio.ensure_future(self._say_notices(notices))
        await self._in_call_digits()

    async def _say_notices(self, notices: asyncio.Queue[str]) -> None:
        """Say what a moderator did: "un modérateur a coupé votre micro", or asks the
        caller to unmute ("... tapez étoile six")."""
        while not self.call.ended:
            notice = await notices.get()
            self.services.stats[f"notice_{notice}"] += 1
            await self.media.play([notice])

    async def _wait_for_join(
        self, joining: asyncio.Future[ConferenceLeg], waiting: asyncio.Event
    ) -> ConferenceLeg:
        """The join's leg; while the waiting room holds the caller, "veuillez patienter"
        every :data:`LOBBY_PROMPT_INTERVAL` seconds (the call ending cancels the join)."""
        held = asyncio.ensure_future(waiting.wait())
        first: set[asyncio.Future[Any]] = {joining, held}
        try:
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            while not joining.done() and not self.call.ended:
                self.services.stats["lobby_prompts"] += 1
                await self.media.play(["lobby_wait"])
                await asyncio.wait({joining}, timeout=LOBBY_PROMPT_INTERVAL)
            if not joining.done():  # the caller hung up while waiting
                joining.cancel()
            return await joining
        except BaseException:
            joining.cancel()
            raise
        finally:
            held.cancel()

    async def _in_call_digits(self) -> None:
        """``*6`` toggles mute, ``*9`` raises or lowers the hand, each with a short prompt."""
        star_at: float | None = None
        clock = self.services.clock
        while not self.call.ended:
            digit = await self.media.digits.get()
            now = clock.now()
            if digit == "*":
                star_at = now
                continue
            if digit == "6" and star_at is not None and now - star_at < 3.0:
                # the conference's state, not ours: a moderator may have muted the caller
                self.muted = not (self.leg.muted if self.leg is not None else self.muted)
                if self.leg is not None:
                    self.leg.set_muted(self.muted)
                self.services.stats["mute_toggles"] += 1
                await self.media.play(["muted" if self.muted else "unmuted"])
            elif digit == "9" and star_at is not None and now - star_at < 3.0 and self.leg:
                # the conference's state again: a moderator may have lowered it
                raised = not self.leg.hand_raised
                self.leg.set_hand_raised(raised)
                self.services.stats["hand_toggles"] += 1
                await self.media.play(["hand_raised" if raised else "hand_lowered"])
            star_at = None

    def _on_bridge_end(self, reason: str) -> None:
        if self.call.ended:
            return
        prompt = END_PROMPTS.get(reason)
        if prompt is None:
            self.call.hangup(reason)
            return
        # a moderator's act: say why ("vous avez été retiré...", "la conférence est
        # terminée"), then BYE; kept so that the task is not collected before it ends
        self._ending = asyncio.ensure_future(self._say_and_hang_up(prompt, reason))

    async def _say_and_hang_up(self, prompt: str, reason: str) -> None:
        try:
            await self.media.play([prompt])
        finally:
            if not self.call.ended:
                self.call.hangup(reason)

    def close(self) -> None:
        """Leave the conference, if joined (or its waiting room); idempotent."""
        if self._joining is not None and not self._joining.done():
            self._joining.cancel()
        if self._notices is not None:
            self._notices.cancel()
        if self.leg is not None and not self._left:
            self._left = True
            self.leg.close()
