"""The per-receiver allocator shares one estimate among the tracks a receiver consumes."""

from __future__ import annotations

from snapconf.media.allocation import (
    HEADROOM,
    PRIORITY_AUDIO,
    PRIORITY_DOMINANT,
    PRIORITY_SCREEN,
    PRIORITY_THUMBNAIL,
    PRIORITY_VIDEO,
    LayerOption,
    TrackDemand,
    allocate,
)

LOW = LayerOption(0, -1, 320, 180, 150_000)
MID = LayerOption(1, -1, 640, 360, 500_000)
HIGH = LayerOption(2, -1, 1280, 720, 1_500_000)
LAYERS = (LOW, MID, HIGH)
NEVER = 1 << 30


def audio(key: str, bitrate: int = 32_000) -> TrackDemand:
    return TrackDemand(key, "audio", PRIORITY_AUDIO, (), bitrate=bitrate)


def video(key: str, priority: int = PRIORITY_VIDEO, rank: int = NEVER, **kw: object) -> TrackDemand:
    return TrackDemand(key, "video", priority, LAYERS, rank=rank, **kw)  # type: ignore[arg-type]


def test_audio_is_always_allocated_even_beyond_the_estimate():
    result = allocate(10_000, [audio("a1"), audio("a2"), video("v1")])
    assert result.tracks["a1"].bitrate == 32_000
    assert result.tracks["a2"].bitrate == 32_000
    assert result.tracks["v1"].option is None
    assert result.allocated == 64_000


def test_a_video_that_does_not_fit_at_its_lowest_layer_is_paused():
    result = allocate(200_000, [video("v1", rank=0), video("v2", rank=1)])
    assert result.tracks["v1"].option == LOW
    assert result.tracks["v2"].option is None
    assert result.tracks["v2"].bitrate == 0
    assert result.allocated == 150_000


def test_every_video_gets_its_lowest_layer_before_any_thumbnail_is_upgraded():
    demands = [video(f"v{i}", rank=i) for i in range(4)]
    result = allocate(700_000, demands)
    assert [result.tracks[f"v{i}"].option for i in range(4)] == [LOW] * 4


def test_upgrades_go_in_priority_order_up_to_the_best_layer():
    demands = [video("thumb", PRIORITY_THUMBNAIL), video("cam", PRIORITY_VIDEO)]
    # lowest for both (300k), then one step each if it fits: cam first
    result = allocate(1_000_000, demands)
    assert result.tracks["cam"].option == MID
    assert result.tracks["thumb"].option == LOW
    result = allocate(10_000_000, demands)
    assert result.tracks["cam"].option == HIGH
    assert result.tracks["thumb"].option == HIGH


def test_the_screen_share_and_the_dominant_speaker_reach_their_preferred_layer_first():
    demands = [
        video("cam", PRIORITY_VIDEO, rank=1),
        video("dominant", PRIORITY_DOMINANT, rank=0),
        video("screen", PRIORITY_SCREEN),
    ]
    result = allocate(1_100_000, demands)
    assert result.tracks["screen"].option == MID
    assert result.tracks["dominant"].option == MID
    assert result.tracks["cam"].option is None


def test_a_small_tile_never_receives_a_layer_much_larger_than_itself():
    tile = video("v", max_width=320, max_height=180)
    result = allocate(10_000_000, [tile])
    assert result.tracks["v"].option == LOW
    assert result.wanted == LOW.bitrate
    # 1.5x the tile is still allowed
    result = allocate(10_000_000, [video("v", max_width=427, max_height=240)])
    assert result.tracks["v"].option == MID


def test_a_tile_smaller_than_the_lowest_layer_still_gets_the_lowest():
    result = allocate(10_000_000, [video("v", max_width=64, max_height=36)])
    assert result.tracks["v"].option == LOW


def test_a_tile_smaller_than_the_lowest_layer_still_gets_its_full_frame_rate():
    # the lowest layer at 1, 2 and 3 temporal layers (VP8 L1T3), then the next one
    options = (
        LayerOption(0, 0, 320, 180, 40_000),
        LayerOption(0, 1, 320, 180, 80_000),
        LayerOption(0, -1, 320, 180, 150_000),
        MID,
    )
    tiny = TrackDemand("v", "video", PRIORITY_DOMINANT, options, max_width=96, max_height=54)
    result = allocate(10_000_000, [tiny])
    assert result.tracks["v"].option == options[2]  # all its frames, not MID
    assert result.wanted == 150_000


def test_an_invisible_video_is_paused_and_wants_nothing():
    result = allocate(10_000_000, [video("v", visible=False), audio("a")])
    assert result.tracks["v"].option is None
    assert result.wanted == 32_000


def test_last_n_keeps_the_most_recent_speakers_cameras_and_never_cuts_a_screen_share():
    demands = [
        video("never", rank=NEVER),
        video("second", rank=1),
        video("first", PRIORITY_DOMINANT, rank=0),
        video("third", rank=2),
        video("screen", PRIORITY_SCREEN, rank=NEVER),
    ]
    result = allocate(100_000_000, demands, last_n=2)
    assert result.tracks["first"].option == HIGH
    assert result.tracks["second"].option == HIGH
    assert result.tracks["screen"].option == HIGH
    assert result.tracks["third"].option is None
    assert result.tracks["never"].option is None
    assert result.wanted == 3 * HIGH.bitrate


def test_last_n_zero_forwards_no_camera_but_all_audio():
    result = allocate(100_000_000, [video("v", rank=0), audio("a")], last_n=0)
    assert result.tracks["v"].option is None
    assert result.tracks["a"].bitrate == 32_000


def test_wanted_is_what_the_receiver_takes_without_the_limit():
    demands = [video("v1"), video("v2", max_width=320, max_height=180), audio("a")]
    result = allocate(100_000, demands)
    assert result.wanted == HIGH.bitrate + LOW.bitrate + 32_000


def test_headroom_is_left_unused():
    exact = LOW.bitrate + MID.bitrate - LOW.bitrate  # MID alone
    result = allocate(exact, [video("v")])
    assert result.tracks["v"].option == LOW  # MID would use the headroom
    result = allocate(int(exact / (1 - HEADROOM)) + 1, [video("v")])
    assert result.tracks["v"].option == MID


def test_temporal_layers_are_steps_of_their_own():
    options = (
        LayerOption(0, 0, 320, 180, 60_000),
        LayerOption(0, 1, 320, 180, 100_000),
        LayerOption(0, 2, 320, 180, 150_000),
        LayerOption(1, 0, 640, 360, 250_000),
    )
    demand = TrackDemand("v", "video", PRIORITY_VIDEO, options)
    result = allocate(170_000, [demand])
    assert result.tracks["v"].option == LayerOption(0, 2, 320, 180, 150_000)


def test_allocation_is_deterministic_whatever_the_order_of_the_demands():
    demands = [video(f"v{i}", rank=i % 3) for i in range(6)] + [audio("a")]
    first = allocate(1_400_000, demands)
    second = allocate(1_400_000, list(reversed(demands)))
    assert first.tracks == second.tracks
    assert first.allocated == second.allocated


def test_a_600k_receiver_of_six_cameras_hears_all_and_sees_the_dominant_speaker_well():
    # the dominant speaker talks (Opus ~32 kbit/s); the others are silent (DTX, ~2 kbit/s)
    demands = [audio("a0", 32_000)] + [audio(f"a{i}", 2_000) for i in range(1, 6)]
    demands.append(video("v0", PRIORITY_DOMINANT, rank=0))
    demands += [video(f"v{i}", PRIORITY_VIDEO, rank=i) for i in range(1, 6)]
    result = allocate(600_000, demands)
    assert all(result.tracks[f"a{i}"].bitrate > 0 for i in range(6))
    dominant = result.tracks["v0"].option
    assert dominant is not None and dominant.bitrate >= MID.bitrate
    assert result.allocated <= 600_000
    assert result.allocated == sum(t.bitrate for t in result.tracks.values())
    assert result.wanted > 600_000
