"""The README's two pictures, rendered from the committed results (no training).

* `nbs/results/demo.png`: the demo's comparison from `nbs/results/demo_seeds.json`, All Avg (mean ± sd over
  the seeds) for complete / audio missing / visual missing: AVST, AVST + RMM + AVR, and the zero-filled control;
* `nbs/results/fig5.png`: Fig. 5 (accuracy against the missing ratio) from `nbs/results/report/report.json`
  by `avqa_missing.reproduction.plot_fig5`, smaller than the report's own `fig5.png`.

`python tests/readme_figures.py` (or `python tests/run_notebooks.py --save`) rewrites both;
`tests/test_notebooks.py` checks that the committed ones are what this renders.
"""
from __future__ import annotations

import io, json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / 'nbs' / 'results'
DPI = 72
# (row in demo_seeds.json, label in the picture)
DEMO_ROWS = (('AVST', 'AVST'), ('AVST+RMM+AVR', 'AVST + RMM + AVR (ours)'),
             ('AVST, zero-filled pairs', 'AVST, zero-filled pairs (control)'))
SCENARIOS = (('complete', 'complete'), ('audio-missing', 'audio missing'), ('visual-missing', 'visual missing'))


def plot_demo(res: dict, key: str = 'All Avg'):
    "Grouped bars with ± sd error bars over seeds: one group per scenario, one bar per row of `DEMO_ROWS`."
    import numpy as np
    import matplotlib.pyplot as plt
    rows = [(r, lab) for r, lab in DEMO_ROWS if all(r in s['rows'] for s in res['seeds'].values())]
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    w = 0.8 / len(rows)
    x = np.arange(len(SCENARIOS))
    for j, ((r, lab), color) in enumerate(zip(rows, ('#9e9e9e', '#1f77b4', '#ff7f0e'))):
        y = np.array([[s['rows'][r][sc][key] for sc, _ in SCENARIOS] for s in res['seeds'].values()], dtype=float)
        m, sd = y.mean(0), (y.std(0, ddof=1) if len(y) > 1 else 0 * y[0])
        ax.bar(x + (j - (len(rows) - 1) / 2) * w, m, w, yerr=sd, capsize=3, color=color, label=lab,
               hatch='//' if 'control' in lab else None, edgecolor='white' if 'control' in lab else None)
    ax.set_xticks(x, [lab for _, lab in SCENARIOS])
    ax.set_ylabel(f'{key} accuracy (%)'); ax.set_ylim(45, 70); ax.grid(axis='y', alpha=.3)
    ax.set_title(f'demo benchmark, test split, mean ± sd over {len(res["seeds"])} seeds', fontsize=10)
    ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return fig


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=DPI, bbox_inches='tight', metadata={'Software': None})
    plt.close(fig)
    return buf.getvalue()


def figures() -> dict:
    "{path: PNG bytes} of the README's pictures."
    import matplotlib
    matplotlib.use('Agg')
    from avqa_missing.reproduction import plot_fig5
    demo = json.loads((RESULTS / 'demo_seeds.json').read_text(encoding='utf-8'))
    report = json.loads((RESULTS / 'report' / 'report.json').read_text(encoding='utf-8'))
    return {RESULTS / 'demo.png': _png(plot_demo(demo)), RESULTS / 'fig5.png': _png(plot_fig5(report))}


def render() -> list[Path]:
    "Write the README's pictures; the paths written."
    out = []
    for p, png in figures().items():
        if not p.exists() or p.read_bytes() != png: p.write_bytes(png)
        out.append(p)
    return out


if __name__ == '__main__':
    for p in render(): print(f'wrote {p.relative_to(ROOT)} ({p.stat().st_size // 1024} KB)')
