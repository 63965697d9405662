"""The organiser pages in headless Chromium: sign in, book, see the PIN, download the
invitation, cancel; keyboard-only booking and labelled fields."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import icalendar
import pytest
from tests.conftest import base_url

async_api = pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CHROMIUM = os.environ.get("SNAPCONF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path(os.environ.get("SNAPCONF_E2E_SCREENSHOT_DIR", "/tmp"))

if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    playwright = await async_api.async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(accept_downloads=True, locale="fr-FR")
            p = await context.new_page()
            errors: list[str] = []
            p.on("pageerror", lambda e: errors.append(str(e)))
            yield p
            assert not errors, errors
        finally:
            await browser.close()
    finally:
        await playwright.stop()


async def test_book_see_the_pin_download_the_invitation_and_cancel(
    make_server: Any, page: Any, tmp_path: Path
) -> None:
    server = await make_server(
        store={"path": str(tmp_path / "pages.db")},
        api={"dialin_numbers": ["+33 1 89 00 00 00"], "token_secret": "p" * 40},
        organisers={"dev_login": True},
    )
    url = base_url(server)
    await page.goto(url + "/organisateur/reserver")
    assert page.url.endswith("/organisateur/connexion")  # signed out: sent to sign in
    assert await page.get_attribute("html", "lang") == "fr"
    await page.get_by_label("Adresse électronique").fill("alice@agriculture.gouv.fr")
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url("**/organisateur/conferences")
    assert "pas encore de conférence" in await page.inner_text("main")

    await page.get_by_role("link", name="Réserver une conférence").first.click()
    await page.wait_for_url("**/organisateur/reserver")
    # a wrong value comes back with the field marked and a French message
    await page.get_by_label("Titre de la conférence").fill("Comité de suivi")
    await page.get_by_label("Nombre maximum de participants (50 au plus)").fill("51")
    await page.get_by_role("button", name="Réserver").click()
    assert "entre 1 et 50" in await page.inner_text("[role=alert]")
    field = page.get_by_label("Nombre maximum de participants (50 au plus)")
    assert await field.get_attribute("aria-invalid") == "true"
    assert await page.get_by_label("Titre de la conférence").input_value() == "Comité de suivi"
    # keyboard only: type the value, then Enter submits the form
    await field.fill("")
    await field.type("20")
    await page.get_by_label("Toute la journée").check()
    await field.press("Enter")
    await page.wait_for_url("**/organisateur/conferences/*")
    await page.screenshot(
        path=str(SCREENSHOT / "snapconf-organiser-conference.png"), full_page=True
    )

    pin = (await page.inner_text("#pin")).strip()
    assert len(pin) == 9 and pin.isdigit()
    assert (await page.inner_text("#number")).strip() == "+33 1 89 00 00 00"
    conference_id = page.url.rsplit("/", 1)[1]
    assert await page.get_attribute("#web-url", "href") == f"{url}/{conference_id}"
    assert await page.get_attribute("#tel", "href") == f"tel:+33189000000,,{pin}%23"
    for name in ("Copier le lien de la conférence", "Copier le code de la conférence"):
        assert await page.get_by_role("button", name=name).is_visible()
    snap = await page.inner_text("ul.snap")
    assert "Tchap" in snap and "France Transfert" in snap and "Maia" in snap

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Télécharger l’invitation (.ics)").click()  # noqa: RUF001
    download = await info.value
    path = tmp_path / "invitation.ics"
    await download.save_as(path)
    (event,) = icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")
    description = str(event["description"])
    assert pin in description and f"{url}/{conference_id}" in description
    assert "+33 1 89 00 00 00" in description

    store = server.store
    booking = await store.get(conference_id)
    assert booking is not None and booking.all_day and booking.max_participants == 20
    assert booking.organiser_email == "alice@agriculture.gouv.fr"

    await page.get_by_role("link", name="Mes conférences").click()
    assert "Comité de suivi" in await page.inner_text("table")

    await page.get_by_role("link", name="Comité de suivi").click()
    await page.get_by_role("button", name="Annuler la conférence").click()
    await page.wait_for_url(f"**/organisateur/conferences/{conference_id}")
    assert "Annulée" in await page.inner_text(".status")
    assert await page.get_by_role("button", name="Annuler la conférence").count() == 0
    booking = await store.get(conference_id)
    assert booking is not None and booking.status == "cancelled"
    assert await store.by_pin(pin) is None


async def test_pages_refuse_forged_forms_and_other_organisers(make_server: Any, page: Any) -> None:
    server = await make_server(api={"token_secret": "q" * 40}, organisers={"dev_login": True})
    url = base_url(server)
    await server.store.sign_in("dev:bob@x.gouv.fr", "bob@x.gouv.fr")
    other = await server.store.book(
        organiser_id="dev:bob@x.gouv.fr",
        organiser_email="bob@x.gouv.fr",
        title="Bob",
        starts=2e9,
        ends=2e9 + 60,
        timezone="UTC",
    )
    await page.goto(url + "/organisateur/connexion")
    await page.get_by_label("Adresse électronique").fill("alice@x.gouv.fr")
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url("**/organisateur/conferences")
    response = await page.goto(url + f"/organisateur/conferences/{other.id}")
    assert response.status == 404
    forged = await page.request.post(
        url + "/organisateur/reserver", form={"title": "x", "csrf": "forged"}
    )
    assert forged.status == 403
