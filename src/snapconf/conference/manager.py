"""The conferences of one server, created on first join and closed when empty.

:meth:`Conferences.join` is the one door for every kind of participant: it asks the
admission policy, gets or creates the room, checks its limits and adds the participant,
all or nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator

from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.conference.admission import (
    KINDS,
    AdmissionPolicy,
    Grant,
    JoinRequest,
    OpenAdmission,
)
from snapconf.conference.chat import ChatConfig
from snapconf.conference.conference import Conference, SfuConfig
from snapconf.conference.moderation import (
    MODERATOR,
    REMOVAL_MEMORY,
    Waiter,
    identity_of,
    notify_lobby,
)
from snapconf.conference.participant import Participant, ParticipantListener
from snapconf.errors import RoomFull
from snapconf.media.mixer import MixerConfig
from snapconf.media.server import MediaServer

log = logging.getLogger(__name__)

ROOM_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: seconds between two runs of every room's speaker detector
SPEAKER_INTERVAL = 0.2


def valid_room_name(name: str) -> bool:
    """Room names are 1-64 characters of ``A-Za-z0-9._-`` (they appear in URLs)."""
    return bool(ROOM_NAME.match(name))


class Conferences:
    """Conferences by name.

    While any room exists, one task runs every room's speaker detector every
    :data:`SPEAKER_INTERVAL` seconds on ``audio_clock`` (against absolute deadlines), so
    that every room has a dominant speaker, with or without an audio bridge.
    """

    def __init__(
        self,
        media: MediaServer,
        config: SfuConfig,
        clock: Callable[[], float],
        *,
        mixer_config: MixerConfig | None = None,
        audio_clock: Clock = SYSTEM_CLOCK,
        admission: AdmissionPolicy | None = None,
        chat_config: ChatConfig | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.media = media
        #: every room's chat limits, and the clock that stamps chat messages
        self.chat_config = chat_config or ChatConfig()
        self.wall_clock = wall_clock
        #: who may join which room, as what (the server's bookings; open to all by default)
        self.admission: AdmissionPolicy = admission or OpenAdmission()
        self.config = config
        self.clock = clock
        self.mixer_config = mixer_config or MixerConfig()
        self.audio_clock = audio_clock
        #: counters of the audio bridges that have stopped (live ones count their own)
        self.mixer_totals: Counter[str] = Counter()
        self._by_name: dict[str, Conference] = {}
        #: identities removed from rooms that emptied since: (when, identities) by room,
        #: given back to the room if it is used again within REMOVAL_MEMORY seconds
        self._removed: dict[str, tuple[float, set[str]]] = {}
        self._speaker_task: asyncio.Task[None] | None = None

    def find_seat(self, room: str, token: str) -> tuple[Conference, Participant] | None:
        """The participant of ``room`` whose resume token is ``token`` (compared in
        constant time), if it is still there: held for reconnection, or not yet seen to
        have dropped."""
        conference = self.get(room)
        if conference is None:
            return None
        wanted = token.encode()
        for participant in conference.participants.values():
            if participant.kind == "browser" and hmac.compare_digest(
                participant.resume_token.encode(), wanted
            ):
                return conference, participant
        return None

    def get(self, name: str) -> Conference | None:
        return self._by_name.get(name)

    async def join(
        self,
        request: JoinRequest,
        listener: ParticipantListener,
        *,
        webrtc: bool = True,
        claim: Callable[[], None] | None = None,
        on_waiting: Callable[[str], None] | None = None,
    ) -> tuple[Conference, Participant]:
        """Admit ``request`` and add it to its room as a new participant.

        The room's moderation applies after the policy: a removed identity is refused
        (``removed``), a locked room refuses everyone but moderators
        (``conference_locked``), and with the waiting room on, a newcomer who is not a
        moderator waits until a moderator admits it (``on_waiting(id)`` is called when it
        starts to wait; ``refused`` if turned away, ``conference_ended`` if the meeting
        ends meanwhile). Cancelling the call takes the waiter out of the waiting room.

        The policy's refusals propagate; a room at its limit (``sfu.max_participants``, or
        the grant's ``max_participants`` when lower) raises :class:`snapconf.errors.RoomFull`.
        ``claim`` runs once admitted, just before the participant is added, and may refuse
        too (a face's own caps, or a requester that went away during the admission). On any
        failure nothing is left behind: no participant, and no room nobody is in.
        """
        if request.kind not in KINDS:
            raise ValueError(f"request.kind {request.kind!r} is not one of {', '.join(KINDS)}")
        grant = await self.admission.admit(request)
        conference = self.get_or_create(request.room)
        moderation = conference.moderation
        participant_id = "p" + secrets.token_hex(5)
        try:
            if grant.booked and not moderation.booking_applied:
                moderation.booking_applied = True
                moderation.lobby_enabled = grant.lobby
            role = grant.role
            if (
                self.config.first_moderator
                and request.kind == "browser"
                and not grant.booked
                and not conference.participants
                and not moderation.lobby.waiting
            ):
                role = MODERATOR  # the first browser in an ad-hoc room
            identity = identity_of(request, grant)
            moderation.check_entry(identity, role)
            if moderation.must_wait(role, request.kind):
                await self._wait(conference, participant_id, request, grant, identity, on_waiting)
            limit = self.config.max_participants
            if grant.max_participants is not None:
                limit = min(limit, grant.max_participants)
            if len(conference.participants) >= limit:
                raise RoomFull(f"room {request.room} has {limit} participants")
            if claim is not None:
                claim()
            participant = Participant(
                display_name=grant.name or request.display_name,
                role=role,
                kind=request.kind,
                listener=listener,
                clock=self.clock,
                participant_id=participant_id,
            )
            moderation.identities[participant_id] = identity
            conference.join(participant, webrtc=webrtc)  # undoes itself if it fails
        except BaseException:
            if participant_id not in conference.participants:
                moderation.identities.pop(participant_id, None)
            self.discard_if_empty(conference)
            raise
        if grant.title:
            conference.title = grant.title
        return conference, participant

    def get_or_create(self, name: str) -> Conference:
        conference = self._by_name.get(name)
        if conference is None or conference.closed:
            conference = Conference(
                name,
                media=self.media,
                config=self.config,
                clock=self.clock,
                on_empty=self._empty,
                mixer_config=self.mixer_config,
                audio_clock=self.audio_clock,
                mixer_totals=self.mixer_totals,
                chat_config=self.chat_config,
                wall_clock=self.wall_clock,
            )
            self._by_name[name] = conference
            removed = self._removed.pop(name, None)
            if removed is not None and self.clock() - removed[0] < REMOVAL_MEMORY:
                conference.moderation.removed = removed[1]  # still may not rejoin
            log.info("conference %s created", name)
            self._start_speakers()
        return conference

    async def _wait(
        self,
        conference: Conference,
        waiter_id: str,
        request: JoinRequest,
        grant: Grant,
        identity: str,
        on_waiting: Callable[[str], None] | None,
    ) -> None:
        """Hold a newcomer in the conference's waiting room until a moderator decides."""
        lobby = conference.moderation.lobby
        if len(lobby.waiting) >= self.config.max_participants:
            raise RoomFull(f"the waiting room of {conference.name} is full")
        waiter = Waiter(
            id=waiter_id,
            display_name=grant.name or request.display_name,
            kind=request.kind,
            identity=identity,
            outcome=asyncio.get_running_loop().create_future(),
        )
        lobby.add(waiter)
        log.info("conference %s: %s waits (%s)", conference.name, waiter_id, request.kind)
        notify_lobby(conference)
        try:
            if on_waiting is not None:
                on_waiting(waiter_id)
            await waiter.outcome
        finally:
            if waiter_id in lobby.waiting:  # went away while waiting
                lobby.discard(waiter_id)
                notify_lobby(conference)

    def discard_if_empty(self, conference: Conference) -> None:
        """Close a conference nobody joined after all (a refused first join)."""
        if not conference.participants and not conference.moderation.lobby.waiting:
            self._empty(conference)

    def _empty(self, conference: Conference) -> None:
        if self._by_name.get(conference.name) is conference:
            del self._by_name[conference.name]
        now = self.clock()
        for name, (when, _) in list(self._removed.items()):
            if now - when >= REMOVAL_MEMORY:
                del self._removed[name]
        if conference.moderation.removed:
            self._removed[conference.name] = (now, conference.moderation.removed)
        conference.close()
        log.info("conference %s closed (empty)", conference.name)
        if not self._by_name:
            self._stop_speakers()

    # -- the speaker detectors ----------------------------------------------------------
    def _start_speakers(self) -> None:
        if self._speaker_task is not None and not self._speaker_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a synchronous test): tick_speakers by hand
            return
        self._speaker_task = loop.create_task(self._run_speakers(), name="speakers")

    def _stop_speakers(self) -> None:
        if self._speaker_task is not None:
            self._speaker_task.cancel()
            self._speaker_task = None

    async def _run_speakers(self) -> None:
        clock = self.audio_clock
        deadline = clock.now()
        while True:
            deadline += SPEAKER_INTERVAL
            await clock.sleep_until(deadline)
            if clock.now() > deadline + SPEAKER_INTERVAL:  # fell behind: do not catch up
                deadline = clock.now()
            self.tick_speakers()

    def tick_speakers(self) -> None:
        """Run every room's speaker detector once; one room's failure spares the others."""
        for conference in list(self._by_name.values()):
            try:
                conference.tick_speakers()
            except Exception:
                log.exception("conference %s: speaker detection failed", conference.name)

    def __iter__(self) -> Iterator[Conference]:
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)

    def close(self) -> None:
        self._stop_speakers()
        for conference in list(self._by_name.values()):
            conference.close("server shutting down")
        self._by_name.clear()
