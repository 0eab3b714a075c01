"""The report's stylesheet, inlined into every ``report.html`` (no fonts or files to fetch).

Readable on a laptop and in a narrow window: images shrink to the column, tables and commands
scroll sideways inside their own boxes, and nothing widens the page itself.
"""

from __future__ import annotations

CSS = """
:root {
  --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --panel: #f6f8fa;
  --accent: #0969da; --note-bg: #fff8c5; --note-border: #d4a72c; --bg: #fff; --rule: #eaeef2;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --muted: #9198a1; --border: #3d444d; --panel: #151b23;
    --accent: #4493f8; --note-bg: #2e2a1a; --note-border: #bb8009; --bg: #0d1117;
    --rule: #262c36;
  }
  /* the plots keep their white paper: a frame so they do not glare edge to edge */
  img { background: #fff; border-radius: 4px; }
}
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--fg); background: var(--bg);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans",
    "Liberation Sans", Arial, sans-serif;
}
.wrap { max-width: 1280px; margin: 0 auto; padding: 0 28px; }
.page-header { background: var(--panel); border-bottom: 1px solid var(--border); }
.page-header .wrap { padding-top: 26px; padding-bottom: 18px; }
.brand {
  margin: 0 0 4px; color: var(--muted); font-size: 12px; font-weight: 600;
  letter-spacing: .08em; text-transform: uppercase;
}
h1 { margin: 0; font-size: 26px; line-height: 1.25; overflow-wrap: anywhere; }
.subtitle { margin: 6px 0 0; color: var(--muted); overflow-wrap: anywhere; }
.toc { display: flex; flex-wrap: wrap; gap: 6px 18px; margin-top: 16px; font-size: 14px; }
.toc a { color: var(--accent); text-decoration: none; }
.toc a:hover { text-decoration: underline; }
main.wrap { padding-bottom: 12px; }
section { padding: 22px 0 10px; border-bottom: 1px solid var(--border); }
section:last-child { border-bottom: 0; }
h2 { margin: 0 0 12px; font-size: 19px; line-height: 1.3; }
p { margin: 0 0 12px; max-width: 80ch; overflow-wrap: anywhere; }
.caption { margin: 16px 0 6px; color: var(--muted); font-size: 13px; font-weight: 600; }
.note {
  padding: 8px 12px; background: var(--note-bg); border-left: 4px solid var(--note-border);
  border-radius: 4px;
}
figure { margin: 0 0 14px; min-width: 0; }
img { display: block; max-width: 100%; height: auto; }
.split { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 8px 28px; }
.split > figure { flex: 1 1 520px; }
.split > .facts { flex: 0 1 300px; }
.table-wrap {
  max-width: 100%; overflow-x: auto; margin: 0 0 14px;
  border: 1px solid var(--border); border-radius: 6px;
  /* a shadow at an edge that hides more columns: says "scroll" where scrollbars are hidden */
  background:
    linear-gradient(to right, var(--bg) 30%, transparent) left / 32px 100% no-repeat local,
    linear-gradient(to left, var(--bg) 30%, transparent) right / 32px 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%, rgba(0, 0, 0, .16), transparent) left / 12px 100%
      no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%, rgba(0, 0, 0, .16), transparent) right / 12px 100%
      no-repeat scroll;
}
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
.table-wrap > table { min-width: 100%; }
th, td { padding: 5px 10px; text-align: left; white-space: nowrap; vertical-align: top; }
thead th { background: var(--panel); border-bottom: 1px solid var(--border); font-weight: 600; }
tbody tr + tr > * { border-top: 1px solid var(--rule); }
.num { text-align: right; }
.table-wrap.facts { width: fit-content; }
.facts th { color: var(--muted); font-weight: 500; padding-right: 24px; }
.facts td { white-space: normal; overflow-wrap: anywhere; min-width: 8ch; }
.summary {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px;
  margin: 0;
}
.summary .kv {
  min-width: 0; padding: 10px 12px; background: var(--panel);
  border: 1px solid var(--border); border-radius: 6px;
}
.summary dt { color: var(--muted); font-size: 12.5px; }
.summary dd {
  margin: 2px 0 0; font-size: 17px; font-weight: 600; font-variant-numeric: tabular-nums;
  overflow-wrap: anywhere;
}
pre {
  margin: 0 0 14px; padding: 12px 16px; overflow-x: auto; max-width: 100%;
  white-space: pre-wrap; overflow-wrap: anywhere;
  background: var(--panel); border: 1px solid var(--border); border-radius: 6px;
  font: 13px/1.6 ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
    "Liberation Mono", monospace;
}
/* one block per command; a wrapped command's next lines are indented under its first */
.commands .cmd { display: block; padding-left: 4ch; text-indent: -4ch; }
.commands .cmd + .cmd { margin-top: 4px; }
.page-footer { border-top: 1px solid var(--border); color: var(--muted); font-size: 12.5px; }
.page-footer .wrap { padding-top: 14px; padding-bottom: 32px; }
.page-footer p { max-width: none; margin: 0; }
@media (max-width: 640px) {
  .wrap { padding-left: 14px; padding-right: 14px; }
  h1 { font-size: 21px; }
  .summary { grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); }
  /* a phone: a figure keeps a size its text can be read at, and scrolls sideways in its
     box as a wide table does */
  figure { overflow-x: auto; }
  figure > img { min-width: 600px; }
}
@media print {
  :root {
    --fg: #000; --muted: #444; --border: #bbb; --panel: #f2f2f2; --bg: #fff; --rule: #ddd;
  }
  .toc { display: none; }
  .wrap { max-width: none; padding: 0; }
  h2 { break-after: avoid-page; }
  figure, .kv, tr, .note, .commands .cmd { break-inside: avoid-page; }
  /* paper cannot scroll: every column is printed, wrapping inside its cells at spaces; a
     number or a word is never split (0.19 / 13 reads as another LR), a long text (a path,
     an error) anywhere */
  .table-wrap { overflow: visible; background: none; }
  table { font-size: 7.5pt; }
  th, td { padding: 2px 4px; white-space: normal; overflow-wrap: normal; }
  td.num { white-space: nowrap; }
  td.long { overflow-wrap: anywhere; }
  pre { overflow: visible; }
}
""".strip()
"""The stylesheet; classes: ``wrap``, ``summary``/``kv``, ``split``, ``facts``, ``table-wrap``,
``num``, ``caption``, ``note``, ``commands``."""
