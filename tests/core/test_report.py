import base64
import re
import shutil
import subprocess

import matplotlib.pyplot as plt
import numpy as np
import pytest

from eoforge.core.errors import InputError
from eoforge.core.report import Report


def _report() -> Report:
    rep = Report("Test report", "made by a test")
    rep.section("Numbers").add_table(
        [{"k": 2, "silhouette": 0.41}, {"k": 3, "silhouette": 0.52}], caption="choice of K"
    )
    rep.add_text("a <b>escaped</b> paragraph")
    rep.section("Figures")
    for i in range(2):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.imshow(np.random.default_rng(i).random((8, 8)))
        rep.add_figure(fig, caption=f"figure {i}")
    rep.add_config({"seed": 1, "method": "rfa-madogram"})
    return rep


def test_report_is_self_contained(tmp_path):
    path = _report().write(tmp_path / "report.html")
    text = path.read_text()
    assert "&lt;b&gt;escaped&lt;/b&gt;" in text
    assert not re.search(r"(src|href)=['\"]https?://", text)
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(pngs) == 2
    assert all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    assert "<td>0.52</td>" in text


def test_bad_png_and_empty_table():
    rep = Report("x")
    with pytest.raises(InputError, match="PNG"):
        rep.add_png(b"GIF89a")
    with pytest.raises(InputError, match="no rows"):
        rep.add_table([])


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_command(tmp_path, *args: str) -> list[str]:
    return [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]


def render_in_browser(tmp_path, html_path) -> tuple[str, bytes]:
    """DOM after load (scripts run) and a screenshot of the page, from headless Chromium."""
    url = html_path.resolve().as_uri()
    dom = subprocess.run(
        chromium_command(tmp_path, "--virtual-time-budget=5000", "--dump-dom", url),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    shot = tmp_path / "shot.png"
    subprocess.run(
        chromium_command(tmp_path, f"--screenshot={shot}", "--window-size=1000,800", url),
        capture_output=True,
        timeout=120,
        check=True,
    )
    return dom, shot.read_bytes()


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (.ci/run installs it)")
def test_report_renders_in_chromium(tmp_path):
    path = _report().write(tmp_path / "report.html")
    dom, shot = render_in_browser(tmp_path, path)
    assert "figures: 2/2 decoded" in dom
    assert "choice of K" in dom
    assert shot.startswith(b"\x89PNG")
    import matplotlib.image as mpimg

    img = mpimg.imread(tmp_path / "shot.png")
    assert img.shape[0] > 100 and img[..., :3].std() > 0.01  # not a blank page


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (.ci/run installs it)")
def test_broken_figure_is_detected(tmp_path):
    rep = Report("broken")
    rep.add_png(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "corrupt")
    dom, _ = render_in_browser(tmp_path, rep.write(tmp_path / "r.html"))
    assert "figures: 0/1 decoded" in dom
