// The tiles' layouts: a grid in pages (9 tiles a page on a desktop, 4 on a phone), a
// speaker view (the dominant speaker big, the others in a strip), a presentation view
// (a shared screen big, the cameras in a strip; chosen by itself when a screen share
// starts), and the self-view that can be hidden.
//
// It reads the tiles room.js draws in #tiles (`.tile`, `.dominant`, `video.screen`) and
// writes only data attributes and CSS variables, so room.js needs no hook: a tile that is
// off the page is `display: none`, its videos stop intersecting, and room.js's
// IntersectionObserver reports them `visible: false` in `setViews` (the server then
// forwards no video for them). Tiles are never moved in the DOM: a moved <video> pauses.
//
// Each page's tiles fill the cells of a grid whose columns and rows are chosen for the
// largest 16:9 tile: no tile overlaps another, and nothing needs scrolling.

import { t } from "/static/i18n.js";

const $ = (selector) => document.querySelector(selector);
const PHONE = "(max-width: 40rem)";
const PER_PAGE = { desktop: 9, phone: 4 };
const STRIP_TILE_MIN_PX = 160; // the narrowest strip tile; more go to the next page
const SPEAKER_EMPHASIS_TILES = 4; // as room.js: beyond, the dominant tile spans a row
const LAYOUT_KEY = "snapconf.layout";
const SELF_KEY = "snapconf.selfHidden";

export function createLayout({ announce }) {
  const ui = {
    tiles: $("#tiles"),
    local: $("#local-tile"),
    select: $("#layout-select"),
    self: $("#btn-self"),
    pager: $("#pager"),
    prev: $("#btn-page-prev"),
    next: $("#btn-page-next"),
    pageLabel: $("#page-label"),
  };
  const lay = {
    chosen: localStorage.getItem(LAYOUT_KEY) === "speaker" ? "speaker" : "grid",
    presenting: null, // the tile whose screen share made us switch to the presentation view
    page: 0,
    pages: 1,
    main: null, // the big tile of the speaker view (follows the dominant speaker)
    selfHidden: localStorage.getItem(SELF_KEY) === "true",
    frame: 0,
  };

  const tiles = () => [...ui.tiles.querySelectorAll(":scope > .tile")];
  const screenTile = (list) =>
    list.find((tile) => tile.classList.contains("remote") && tile.querySelector("video.screen")) ||
    list.find((tile) => tile.querySelector("video.screen")) || null;

  function mode(list) {
    const screen = screenTile(list);
    if (screen && screen !== lay.presenting) {
      lay.presenting = screen; // a share starts: the presentation view, once
      if (ui.select.value !== "presentation") {
        ui.select.value = "presentation";
        const name = screen.dataset.label || t("you");
        announce(t("presentationStarted", { name }));
      }
    }
    if (!screen) {
      lay.presenting = null;
      if (ui.select.value === "presentation") ui.select.value = lay.chosen;
    }
    const presentation = ui.select.querySelector('option[value="presentation"]');
    presentation.disabled = !screen;
    return { value: ui.select.value, screen };
  }

  // The speaker view's big tile: the dominant speaker among the others, never ourselves
  // when someone else is there (we see our own face in the strip; while we speak, the
  // last other speaker stays), and it stays until another one speaks. Alone, we are the
  // stage, until the first other one comes.
  function speakerTile(list) {
    const remote = list.filter((tile) => tile !== ui.local);
    const dominant = remote.find((tile) => tile.classList.contains("dominant"));
    if (dominant) lay.main = dominant;
    if (!lay.main || lay.main === ui.local || !lay.main.isConnected || !list.includes(lay.main)) {
      lay.main = remote[0] || list[0] || null;
    }
    return lay.main;
  }

  // The grid's columns for `count` cells in a `width` x `height` box: the largest 16:9 tile.
  function bestColumns(count, width, height, spanning) {
    let best = 1;
    let bestSide = -1;
    for (let cols = 1; cols <= Math.max(1, count); cols += 1) {
      const cells = count + (spanning ? cols - 1 : 0);
      const rows = Math.ceil(cells / cols);
      const side = Math.min(width / cols, ((height / rows) * 16) / 9);
      if (side > bestSide + 0.5) {
        best = cols;
        bestSide = side;
      }
    }
    return best;
  }

  function render() {
    lay.frame = 0;
    const all = tiles();
    ui.local.dataset.selfHidden = String(lay.selfHidden);
    const shown = all.filter((tile) => !(tile === ui.local && lay.selfHidden));
    const { value, screen } = mode(all);
    const phone = window.matchMedia(PHONE).matches;
    const box = ui.tiles.getBoundingClientRect();
    let main = null;
    if (value === "presentation" && screen) main = screen;
    else if (value === "speaker") main = speakerTile(shown);
    if (main && !shown.includes(main)) main = null;
    const rest = main ? shown.filter((tile) => tile !== main) : shown;
    const perPage = main
      ? Math.max(1, Math.floor(box.width / STRIP_TILE_MIN_PX))
      : PER_PAGE[phone ? "phone" : "desktop"];
    lay.pages = Math.max(1, Math.ceil(rest.length / perPage));
    lay.page = Math.min(lay.page, lay.pages - 1);
    const pageTiles = rest.slice(lay.page * perPage, (lay.page + 1) * perPage);
    // the dominant speaker is always on the page one looks at: in the last place, whose
    // tile goes to the speaker's page
    const dominant = rest.find((tile) => tile !== ui.local && tile.classList.contains("dominant"));
    if (!main && dominant && !pageTiles.includes(dominant) && pageTiles.length) {
      pageTiles[pageTiles.length - 1] = dominant;
    }
    const onPage = new Set(pageTiles);
    for (const tile of all) {
      const visible = tile === main || onPage.has(tile);
      if (tile.dataset.offPage !== String(!visible)) tile.dataset.offPage = String(!visible);
      if (tile.dataset.main !== String(tile === main)) tile.dataset.main = String(tile === main);
    }
    ui.tiles.dataset.layout = main ? "stage" : "grid";
    ui.tiles.dataset.view = value;
    if (main) {
      ui.tiles.style.setProperty("--cols", String(Math.max(1, onPage.size)));
      ui.tiles.style.setProperty("--rows", onPage.size ? "1" : "0");
    } else {
      const many = all.length > SPEAKER_EMPHASIS_TILES;
      const spanning = many && [...onPage].some((tile) => tile !== ui.local && tile.classList.contains("dominant"));
      // a phone keeps two columns, as room.css always gave it: smaller tiles, less to receive
      const cols = Math.max(phone && onPage.size > 1 ? 2 : 1, bestColumns(onPage.size, box.width, box.height, spanning));
      const cells = onPage.size + (spanning ? cols - 1 : 0);
      ui.tiles.style.setProperty("--cols", String(cols));
      ui.tiles.style.setProperty("--rows", String(Math.max(1, Math.ceil(cells / cols))));
    }
    ui.pager.hidden = lay.pages < 2;
    ui.prev.disabled = lay.page === 0;
    ui.next.disabled = lay.page >= lay.pages - 1;
    ui.pageLabel.textContent = t("pageOf", { page: lay.page + 1, pages: lay.pages });
    ui.self.setAttribute("aria-pressed", String(lay.selfHidden));
    ui.self.textContent = lay.selfHidden ? t("showSelf") : t("hideSelf");
  }

  function schedule() {
    if (!lay.frame) lay.frame = requestAnimationFrame(render);
  }

  function turn(step) {
    lay.page = Math.max(0, Math.min(lay.pages - 1, lay.page + step));
    render();
  }

  return {
    // for tests: what is shown
    get state() {
      return { view: ui.tiles.dataset.view, page: lay.page + 1, pages: lay.pages };
    },
    start() {
      ui.select.value = lay.chosen;
      ui.select.addEventListener("change", () => {
        if (ui.select.value !== "presentation") {
          lay.chosen = ui.select.value;
          localStorage.setItem(LAYOUT_KEY, lay.chosen);
        }
        lay.page = 0;
        announce(t("layoutChanged", { name: ui.select.selectedOptions[0].text }));
        render();
      });
      ui.self.addEventListener("click", () => {
        lay.selfHidden = !lay.selfHidden;
        localStorage.setItem(SELF_KEY, String(lay.selfHidden));
        render();
      });
      ui.prev.addEventListener("click", () => turn(-1));
      ui.next.addEventListener("click", () => turn(1));
      // tiles come and go, a speaker takes the floor, a screen share starts or ends
      new MutationObserver(schedule).observe(ui.tiles, {
        childList: true, subtree: true, attributes: true, attributeFilter: ["class"],
      });
      new ResizeObserver(schedule).observe(ui.tiles);
      window.matchMedia(PHONE).addEventListener("change", schedule);
      render();
    },
  };
}
