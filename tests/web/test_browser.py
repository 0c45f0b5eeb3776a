"""The dashboard in a real headless browser (Debian's ``chromium``) against ``posman run --http`` on the
devnet: every position is shown with a health chart; after an ETH drop the page updates by itself (no
reload): the managed ``cdp`` deleverages, its chart marks the action and the transactions appear.
The screenshot is saved under the test's tmp dir (``POSMAN_SCREENSHOT=PATH`` also copies it there, which
is how ``docs/dashboard.png`` is made)."""

from __future__ import annotations

import os
import shutil

import pytest

from manager.config import load_config
from manager.demo.scenario import move_eth
from tests.support.browser import Browser
from tests.web.conftest import get_json, managed_config, running_manager, wait_until

pytestmark = [pytest.mark.chain, pytest.mark.slow,
              pytest.mark.skipif(Browser.find() is None,
                                 reason="chromium is not installed (Debian: apt-get install chromium; .ci/run does)")]

CARDS = "[...document.querySelectorAll('[data-position]')]"


def _card(name: str, expr: str) -> str:
    return f"(() => {{ const c = document.querySelector('[data-position=\"{name}\"]'); return c && ({expr}); }})()"


def test_dashboard_shows_every_position_and_updates_live(web_net, tmp_path):
    path, env = managed_config(web_net, tmp_path)
    names = sorted(p.name for p in load_config(path).positions)
    with running_manager(path, env) as url, Browser(tmp_path / "chromium-profile", width=1400, height=1000) as b:
        b.goto(url)
        shown = b.wait_for(f"(() => {{ const n = {CARDS}.map(c => c.dataset.position).sort();"
                           f" return n.length === {len(names)} ? n : null; }})()", timeout_s=60)
        assert shown == names  # every configured position is on the page
        charts = b.eval(f"{CARDS}.map(c => c.querySelector('svg.chart') ? 1 : 0).reduce((a, b) => a + b, 0)")
        assert charts == len(names)
        assert b.wait_for(_card("cdp", "c.querySelector('svg.chart path.series') !== null"), timeout_s=30)
        before = b.eval(_card("cdp", "c.querySelector('.health').dataset.health"))
        version = int(b.eval("document.body.dataset.version"))
        assert float(before) > 1.35 and b.eval("document.querySelectorAll('#transactions tbody tr').length") == 0
        assert b.eval("location.href") == url

        move_eth(web_net, 2500)  # cdp HF ~1.34: below its trigger 1.35 -> deleverage
        b.wait_for(_card("cdp", "c.querySelectorAll('svg.chart g.action').length > 0"), timeout_s=120)
        b.wait_for("document.querySelectorAll('#transactions tbody tr').length > 0", timeout_s=60)
        after = b.wait_for(_card("cdp", f"(h => h !== '{before}' && h)(c.querySelector('.health').dataset.health)"),
                           timeout_s=60)
        assert int(b.eval("document.body.dataset.version")) > version
        assert b.eval("location.href") == url  # updated in place, never reloaded
        assert float(after) != float(before)

        def page_matches_api() -> bool:  # the chain settles after the plan's blocks; the page follows the API
            _s, api = get_json(url + "api/positions")
            cdp = next(p for p in api["positions"] if p["name"] == "cdp")
            shown = b.eval(_card("cdp", "c.querySelector('.health').dataset.health"))
            return cdp["last_action_block"] is not None and float(shown) == pytest.approx(cdp["health"], rel=1e-12)

        wait_until(page_matches_api, timeout_s=30, what="the page to show the API's health of cdp")
        txs = b.eval("[...document.querySelectorAll('#transactions tbody tr')].map(r => r.innerText)")
        assert any("cdp" in t and "deleverage" in t for t in txs)
        b.wait_for("document.querySelectorAll('#alerts tbody tr').length > 0", timeout_s=30)
        shot = b.screenshot(tmp_path / "dashboard.png")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    if os.environ.get("POSMAN_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["POSMAN_SCREENSHOT"])
