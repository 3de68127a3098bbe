"""Static, self-contained HTML reports: figures embedded as PNG, tables, text and configs.

Every capability adds its sections to one :class:`Report`; :meth:`Report.write` renders a single
HTML file with no external resources, so it opens offline in any browser. A tiny inline script
checks on load that every embedded figure decoded and writes the result into ``#render-status``
(used by the headless-browser test).
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from eoforge.core.atomic import atomic_write_text
from eoforge.core.errors import InputError


def figure_png(fig: Any, *, dpi: int = 110, tight: bool = True) -> bytes:
    """A matplotlib figure rendered to PNG bytes; the figure is closed.

    ``bbox_inches="tight"`` unless ``tight`` is False.
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    plt.close(fig)
    return buf.getvalue()


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #345;padding-bottom:.2em} h2{color:#345;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em;display:block;max-width:100%;
overflow-x:auto}
th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right} th{background:#eef2f6}
td.l,th.l{text-align:left} figure{margin:1em 0} figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555} pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
nav a{margin-right:1em} #render-status{font-size:.8em;color:#777}
</style></head><body>
<h1>{{ title }}</h1>
<p>{{ subtitle }}</p>
<nav>{% for s in sections %}<a href="#sec{{ loop.index }}">{{ s.title }}</a>{% endfor %}</nav>
{% for s in sections %}<section id="sec{{ loop.index }}"><h2>{{ s.title }}</h2>
{% for b in s.blocks %}{{ b }}
{% endfor %}</section>
{% endfor %}
<p id="render-status">figures: not checked</p>
<script>
window.addEventListener('load', function () {
  // The load event fires after every image has loaded or failed: check each one decoded.
  var imgs = document.querySelectorAll('img'), n = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { n++; }
  }
  document.getElementById('render-status').textContent =
    'figures: ' + n + '/' + imgs.length + ' decoded';
});
</script>
</body></html>
"""


@dataclass
class _Section:
    title: str
    blocks: list[str] = field(default_factory=list)


def _fmt(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


class Report:
    """An HTML report assembled section by section.

    Args:
        title: Page title.
        subtitle: One line under the title (e.g. what produced the report).
    """

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self._sections: list[_Section] = []

    @property
    def n_figures(self) -> int:
        """Number of figures embedded so far."""
        return sum(b.startswith("<figure") for s in self._sections for b in s.blocks)

    def section(self, title: str) -> Report:
        """Start a new section; later ``add_*`` calls go into it."""
        self._sections.append(_Section(title))
        return self

    def _current(self) -> _Section:
        if not self._sections:
            self.section("Results")
        return self._sections[-1]

    def add_text(self, text: str) -> Report:
        """Add a paragraph of plain text (escaped)."""
        self._current().blocks.append(f"<p>{html.escape(text)}</p>")
        return self

    def add_table(
        self,
        rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        *,
        caption: str = "",
        digits: int = 4,
    ) -> Report:
        """Add a table from a list of row dicts (same keys) or one dict (shown as name/value)."""
        if isinstance(rows, Mapping):
            rows = [{"name": k, "value": v} for k, v in rows.items()]
        if not rows:
            raise InputError("add_table got no rows; pass at least one row dict.")
        cols = list(rows[0].keys())
        head = "".join(f"<th class='l'>{html.escape(str(c))}</th>" for c in cols)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td{' class=l' if not isinstance(r.get(c), int | float) else ''}>"
                f"{_fmt(r.get(c, ''), digits)}</td>"
                for c in cols
            )
            + "</tr>"
            for r in rows
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._current().blocks.append(f"<table>{cap}<tr>{head}</tr>{body}</table>")
        return self

    def add_png(self, png: bytes, caption: str = "") -> Report:
        """Embed PNG bytes as a base64 data URI."""
        if not png.startswith(b"\x89PNG"):
            raise InputError("add_png expects PNG bytes (starting with the PNG signature).")
        data = base64.b64encode(png).decode("ascii")
        alt = html.escape(caption or "figure")
        self._current().blocks.append(
            f"<figure><img alt='{alt}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self

    def add_figure(self, fig: Any, caption: str = "", *, dpi: int = 100) -> Report:
        """Embed a matplotlib figure (rendered to PNG) and close it."""
        return self.add_png(figure_png(fig, dpi=dpi), caption)

    def add_image_file(self, path: str | os.PathLike[str], caption: str = "") -> Report:
        """Embed a PNG file from disk."""
        return self.add_png(Path(path).read_bytes(), caption)

    def add_config(self, config: Any) -> Report:
        """Show a configuration (a RunConfig or a dict) as YAML."""
        import yaml

        text = config.to_yaml() if hasattr(config, "to_yaml") else yaml.safe_dump(config)
        self._current().blocks.append(f"<pre>{html.escape(text)}</pre>")
        return self

    def render(self) -> str:
        """The report as one HTML string."""
        env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
        return env.from_string(_TEMPLATE).render(
            title=html.escape(self.title),
            subtitle=html.escape(self.subtitle),
            sections=[{"title": html.escape(s.title), "blocks": s.blocks} for s in self._sections],
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Render and write the report atomically. Returns the path."""
        return atomic_write_text(path, self.render())
