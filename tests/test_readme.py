"""README.md is rendered from nbs/index.ipynb (Quarto, which `nbdev_readme` needs, is not assumed).

`python tests/test_readme.py` rewrites README.md; the test fails when they drift apart. Image paths in
index.ipynb are relative to nbs/ (so that the notebook shows them); README.md gets them relative to the root.
"""
import json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _root_relative_images(md: str, nb_dir: Path) -> str:
    "Relative image paths in `md` (from the notebook's folder: `results/demo.png`) made relative to the root."
    pre = nb_dir.resolve().relative_to(ROOT).as_posix()
    return re.sub(r'(!\[[^\]]*\]\()(?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)', rf'\g<1>{pre}/', md)


def render_readme(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    """Markdown cells as they are (relative image paths made relative to the root), code cells (other than
    hidden ones) as python blocks."""
    cells = json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']
    parts = []
    for c in cells:
        src = ''.join(c['source']).strip()
        if c['cell_type'] == 'markdown': parts.append(_root_relative_images(src, Path(nb_path).parent))
        elif src and not src.startswith('#| hide'): parts.append(f'```python\n{src}\n```')
    return '\n\n'.join(parts) + '\n'


def test_readme_in_step_with_index():
    assert (ROOT / 'README.md').read_text(encoding='utf-8') == render_readme(), \
        'README.md differs from nbs/index.ipynb: run `python tests/test_readme.py`'


if __name__ == '__main__':
    (ROOT / 'README.md').write_text(render_readme(), encoding='utf-8')
    print('wrote README.md')
