"""Run every notebook in `nbs/` as one pytest test, with `nbdev_test` semantics, and check its committed outputs.

Cells flagged with any of `settings.ini`'s `tst_flags` (e.g. `#| slow`) are skipped, `#| eval: false`
cells never run, and each notebook runs from inside `nbs/` exactly as `nbdev_test` does it (`run_notebooks.run`:
seeds fixed, figures as small PNGs). Each notebook runs once; its fresh outputs must be the committed ones
(numbers to their last printed digit, images to a few pixels): refresh them with
`python tests/run_notebooks.py --save nbs/X.ipynb`.
"""
from pathlib import Path

import pytest

import readme_figures
import run_notebooks as rn

NOTEBOOKS = rn.notebooks()


def test_notebooks_found():
    assert any(p.name == 'index.ipynb' for p in NOTEBOOKS), f'no notebooks found under {rn.NBS}'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(nb):
    try: fresh = rn.run(nb)
    except rn.NotebookError as e:
        pytest.fail(f'{nb.name} failed (rerun with `nbdev_test --path nbs/{nb.name}`):\n{e}', pytrace=False)
    diffs = rn.compare(nb, fresh)
    assert not diffs, rn.report(nb, diffs)


def test_readme_figures_in_step():
    "The README's pictures are what `readme_figures.py` renders from the committed results."
    for path, png in readme_figures.figures().items():
        assert path.exists(), f'{path} missing: run `python tests/readme_figures.py`'
        import base64
        why = rn.image_diff(base64.b64encode(path.read_bytes()).decode(), base64.b64encode(png).decode())
        assert why is None, f'{path.name}: {why}; run `python tests/readme_figures.py`'
