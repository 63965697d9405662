"""The meeting in the page: chat between Chromium and Firefox, raised hands, participants.

* Chat: a Chromium page and a Firefox page talk, publicly and privately; markup sent as a
  message (``<script>``, ``<img onerror>``) is shown as text and creates no element; a
  link is clickable, safely; a page joining late shows the public history and nothing
  private of others.
* Raised hands: a moderator page sees the hands of a Firefox and a Chromium page in the
  order they were raised, and lowers one; then a phone raises its hand with ``*9`` and
  the moderator's panel shows it with a handset.

The module's server runs in a network namespace where Firefox reaches its media (see
tests/e2e/browsers.py), with join tokens so that one page is a moderator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import base_url
from tests.e2e.browsers import (
    JOIN_SECRET,
    Browser,
    Pages,
    RoomPage,
    Server,
    join_token,
    module_server,
    needs_chromium,
    needs_firefox,
)
from tests.integration.dialin.test_sip_gateway import free_port_range
from tests.support.dialin import TestPhone

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SCRIPT = "<script>alert(1)</script>"
IMAGE = '<img src=x onerror="window.__pwned = true">'
NOT_A_LINK = "javascript:alert(1) n'est pas un lien"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_server(tmp_path_factory, join_secret=JOIN_SECRET) as srv:
        yield srv


async def _send_chat(page: RoomPage, text: str, to: str = "") -> None:
    """Open the chat panel if needed, choose the recipient, type and press Enter."""
    await page.page.evaluate(
        """async ({text, to}) => {
            if (document.querySelector('#chat-panel').hidden) {
                document.querySelector('#btn-chat').click();
            }
            const select = document.querySelector('#chat-to');
            select.value = to;
            const input = document.querySelector('#chat-input');
            input.value = text;
            input.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
        }""",
        {"text": text, "to": to},
    )
    await _shows_message(page, text)


async def _shows_message(page: RoomPage, text: str) -> None:
    await page.page.wait_for(
        """text => [...document.querySelectorAll('#chat-messages [data-testid=chat-text]')]
            .some(p => p.textContent === text)""",
        text,
    )


async def _messages(page: RoomPage) -> list[str]:
    texts: list[str] = await page.page.evaluate(
        """() => [...document.querySelectorAll('#chat-messages [data-testid=chat-text]')]
            .map(p => p.textContent)"""
    )
    return texts


_MARKUP_JS = """() => {
    const list = document.querySelector('#chat-messages');
    const shown = [...list.querySelectorAll('[data-testid=chat-text]')].filter(p => {
        const box = p.getBoundingClientRect();
        return box.width > 0 && box.height > 0 && getComputedStyle(p).visibility === 'visible';
    }).map(p => p.textContent);
    return {
        elements: list.querySelectorAll('script, img, iframe, object, [onerror]').length,
        pwned: window.__pwned === true,
        shown,
    };
}"""


@needs_chromium
@needs_firefox
async def test_chromium_and_firefox_chat_markup_shows_as_text_and_a_late_joiner_gets_history(
    pages: Pages, fox: Browser, chrome: Browser, server: Server
) -> None:
    room = "discussion"
    chloe = await pages.join(chrome, room, "Chloé")
    firmin = await pages.join(fox, room, "Firmin")
    await chloe.page.wait_for("id => window.snapconf.participants.has(id)", firmin.participant_id)

    # Chromium -> Firefox, with a link; Firefox is told of an unread message
    hello = "Bonjour de Chromium, le support : https://exemple.gouv.fr/doc."
    await _send_chat(chloe, hello)
    await _shows_message(firmin, hello)
    assert (
        await firmin.page.evaluate("() => document.querySelector('#chat-unread').textContent")
        == "1 non lu"
    )
    link = await firmin.page.evaluate(
        """() => {
            const a = document.querySelector('#chat-messages a');
            return {href: a.href, text: a.textContent, rel: a.rel, target: a.target};
        }"""
    )
    assert link == {
        "href": "https://exemple.gouv.fr/doc",
        "text": "https://exemple.gouv.fr/doc",
        "rel": "noopener noreferrer",
        "target": "_blank",
    }

    # Firefox -> Chromium: markup is text, in both pages
    await _send_chat(firmin, SCRIPT)
    await _send_chat(firmin, IMAGE)
    await _send_chat(firmin, NOT_A_LINK)
    await _shows_message(chloe, IMAGE)
    for page in (chloe, firmin):
        markup = await page.page.evaluate(_MARKUP_JS)
        assert markup["elements"] == 0 and not markup["pwned"], (page.name, markup)
        assert SCRIPT in markup["shown"] and IMAGE in markup["shown"], (page.name, markup)
        assert (
            await page.page.evaluate("() => document.querySelectorAll('#chat-messages a').length")
            == 1
        )

    # a private message: to Chloé only
    await _send_chat(firmin, "Rien que pour toi", to=chloe.participant_id)
    await _shows_message(chloe, "Rien que pour toi")
    private = await chloe.page.evaluate(
        "() => document.querySelector('#chat-messages .private .chat-meta').textContent"
    )
    assert "Firmin" in private and "en privé à vous" in private

    # a late joiner (Firefox) sees the public history, in order, and nothing private
    late = await pages.join(fox, room, "Lucie")
    await late.page.evaluate("() => document.querySelector('#btn-chat').click()")
    await _shows_message(late, IMAGE)
    assert await _messages(late) == [hello, SCRIPT, IMAGE, NOT_A_LINK]
    markup = await late.page.evaluate(_MARKUP_JS)
    assert markup["elements"] == 0 and not markup["pwned"]
    assert markup["shown"] == await _messages(late)  # the panel is open: all visible
    # and the keyboard reaches the input, labelled, with new messages announced politely
    a11y = await late.page.evaluate(
        """() => ({
            focused: document.activeElement.id,
            label: document.querySelector('label[for=chat-input]').textContent,
            live: document.querySelector('#chat-messages').getAttribute('aria-live'),
            expanded: document.querySelector('#btn-chat').getAttribute('aria-expanded'),
        })"""
    )
    assert a11y == {
        "focused": "chat-input",
        "label": "Votre message",
        "live": "polite",
        "expanded": "true",
    }
    await late.page.screenshot(str(Path(server.log_path).parent / "chat-firefox.png"))
    for page in (chloe, firmin, late):
        assert await page.errors() == "", page.name


@needs_chromium
@needs_firefox
async def test_a_moderator_page_sees_raised_hands_in_order_and_lowers_one(
    pages: Pages, fox: Browser, chrome: Browser, server: Server
) -> None:
    room = "mains"
    mod = await pages.join(chrome, room, "Modératrice", role="moderator")
    firmin = await pages.join(fox, room, "Firmin")
    chloe = await pages.join(chrome, room, "Chloé")
    await mod.page.wait_for("() => window.snapconf.participants.size === 2")
    await mod.click("#btn-participants")

    await firmin.click("#btn-hand")
    await firmin.page.wait_for(
        "() => document.querySelector('#btn-hand').getAttribute('aria-pressed') === 'true'"
    )
    await chloe.click("#btn-hand")
    order_js = """() => [...document.querySelectorAll('#hands-list [data-testid=hand-name]')]
        .map(li => li.textContent)"""
    await mod.page.wait_for(f"() => ({order_js})().join() === 'Firmin,Chloé'")
    ranks = await mod.page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-testid=participant-row]')]
            .map(r => [r.querySelector('[data-testid=panel-name]').textContent,
                       r.querySelector('[data-testid=panel-hand]')?.textContent || '']))"""
    )
    assert ranks == {
        "Vous": "",
        "Firmin": "Main levée (n° 1)",
        "Chloé": "Main levée (n° 2)",
    }
    # the hands show on the moderator's tiles too, with their rank
    tiles = await mod.page.evaluate(
        """() => [...document.querySelectorAll('#tiles .tile.remote')].map(t => [
            t.querySelector('.name').textContent,
            t.querySelector('[data-testid=hand-indicator]')?.textContent || ''])"""
    )
    assert sorted(tiles) == [["Chloé", "Main n° 2"], ["Firmin", "Main n° 1"]]
    # Firefox sees its own rank on its own tile
    await firmin.page.wait_for(
        "() => document.querySelector('#local-tile [data-testid=hand-indicator]')"
        "?.textContent === 'Main n° 1'"
    )

    # the moderator lowers Firmin's hand: Chloé moves up, Firmin's button follows
    await mod.page.evaluate(
        """() => document.querySelector('#hands-list [data-testid=lower-hand]').click()"""
    )
    await mod.page.wait_for(f"() => ({order_js})().join() === 'Chloé'")
    await firmin.page.wait_for(
        "() => document.querySelector('#btn-hand').getAttribute('aria-pressed') === 'false'"
    )
    await chloe.page.wait_for(
        "() => document.querySelector('#local-tile [data-testid=hand-indicator]')"
        "?.textContent === 'Main n° 1'"
    )
    # a participant has no button to lower another's hand
    await firmin.click("#btn-participants")
    await firmin.page.wait_for(f"() => ({order_js})().join() === 'Chloé'")
    assert (
        await firmin.page.evaluate(
            "() => document.querySelectorAll('#hands-list [data-testid=lower-hand]').length"
        )
        == 0
    )
    for page in (mod, firmin, chloe):
        assert await page.errors() == "", page.name


@needs_chromium
async def test_a_phone_raises_its_hand_with_star_9_and_a_moderator_page_sees_it(
    make_server: Any, chromium: Any, tmp_path: Path
) -> None:
    """A scripted SIP phone (tests/support/dialin.py) and a Chromium moderator page, on a
    server in this process; the panel is looked at on a 390x844 screen."""
    low, high = free_port_range()
    server = await make_server(
        auth={"jwt_secret": JOIN_SECRET},
        sip={
            "port": 0,
            "ring_time": 0.05,
            "rtp_port_min": low,
            "rtp_port_max": high,
            "static_conferences": {"standard": "2468"},
        },
    )
    gateway = server.gateway
    assert gateway is not None
    context = await chromium.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    phone = TestPhone(("127.0.0.1", gateway.udp_port), number="+33612345678")
    try:
        await page.goto(f"{base_url(server)}/standard?token={join_token('standard', 'moderator')}")
        await page.fill("#display-name", "Modératrice")
        await page.click("#join-button")
        await page.wait_for_function("() => window.snapconf.participantId", timeout=20_000)
        await page.click("#btn-participants")
        await phone.open()
        await phone.call()
        await phone.send_dtmf("2468#")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=participant-row][data-kind=phone]')",
            timeout=20_000,
        )
        await phone.send_dtmf("*9")
        await page.wait_for_function(
            "() => document.querySelector('[data-kind=phone] [data-testid=panel-hand]')"
            "?.textContent === 'Main levée (n° 1)'",
            timeout=20_000,
        )
        row = await page.evaluate(
            """() => {
                const row = document.querySelector('[data-testid=participant-row][data-kind=phone]');
                return {name: row.querySelector('[data-testid=panel-name]').textContent,
                        icon: row.querySelector('.participant-icon').textContent,
                        text: row.textContent,
                        hands: [...document.querySelectorAll('#hands-list [data-testid=hand-name]')]
                            .map(n => n.textContent)};
            }"""
        )
        assert row["name"] == "+33 6 •• •• •• 78" and row["icon"] == "☎", row
        assert "Téléphone" in row["text"] and "Pas de caméra" not in row["text"], row
        assert row["hands"] == ["+33 6 •• •• •• 78"]
        # on a phone-sized screen the panel and every control stay on screen
        fits = await page.evaluate(
            """() => {
                const inside = el => { const r = el.getBoundingClientRect();
                    return r.width > 0 && r.left >= 0 && r.right <= innerWidth + 0.5
                        && r.top >= 0 && r.bottom <= innerHeight + 0.5; };
                return {controls: [...document.querySelectorAll('#controls button:not([hidden])')]
                            .every(inside),
                        panel: inside(document.querySelector('#participants-panel h2')),
                        scrollX: document.documentElement.scrollWidth <= innerWidth};
            }"""
        )
        assert fits == {"controls": True, "panel": True, "scrollX": True}, fits
        await page.screenshot(path=str(tmp_path / "participants-390x844.png"))
        # the chat panel takes the panel's place, its input and button on screen
        await page.click("#btn-chat")
        await page.fill("#chat-input", "Bonjour à tous https://exemple.gouv.fr")
        await page.press("#chat-input", "Enter")
        await page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=chat-message]').length === 1",
            timeout=20_000,
        )
        assert await page.evaluate(
            """() => [document.querySelector('#chat-input'),
                      document.querySelector('[data-testid=chat-send]')].every(el => {
                const r = el.getBoundingClientRect();
                return r.width > 0 && r.top >= 0 && r.bottom <= innerHeight;
            })"""
        )
        assert await page.is_hidden("#participants-panel")
        await page.screenshot(path=str(tmp_path / "chat-390x844.png"))
        # *9 again lowers it
        await page.click("#btn-participants")
        await phone.send_dtmf("*9")
        await page.wait_for_function(
            "() => !document.querySelector('[data-kind=phone] [data-testid=panel-hand]')",
            timeout=20_000,
        )
        assert errors == []
    finally:
        phone.close()
        await context.close()
    await asyncio.sleep(0)
