"""Run every notebook in `nbs/` as one pytest test, with `nbdev_test` semantics.

Cells flagged with any of `settings.ini`'s `tst_flags` (e.g. `#| slow`) are skipped, `#| eval: false`
cells never run, and each notebook runs from inside `nbs/` exactly as `nbdev_test` does it.
"""
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

NBS = Path(__file__).resolve().parent.parent / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))


def test_notebooks_found():
    assert any(p.name == 'index.ipynb' for p in NOTEBOOKS), f'no notebooks found under {NBS}'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(nb):
    flags = get_config().tst_flags.split()
    ok, secs = run_notebook(nb, skip_flags=flags)
    assert ok, f'{nb.name} failed; the traceback is above (rerun with `nbdev_test --path nbs/{nb.name}`)'
