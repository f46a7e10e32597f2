"""README.md is rendered from nbs/index.ipynb (Quarto, which `nbdev_readme` needs, is not assumed).

`python tests/test_readme.py` rewrites README.md; the test fails when they drift apart.
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render_readme(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    "Markdown cells as they are, code cells (other than hidden ones) as python blocks."
    cells = json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']
    parts = []
    for c in cells:
        src = ''.join(c['source']).strip()
        if c['cell_type'] == 'markdown': parts.append(src)
        elif src and not src.startswith('#| hide'): parts.append(f'```python\n{src}\n```')
    return '\n\n'.join(parts) + '\n'


def test_readme_in_step_with_index():
    assert (ROOT / 'README.md').read_text(encoding='utf-8') == render_readme(), \
        'README.md differs from nbs/index.ipynb: run `python tests/test_readme.py`'


if __name__ == '__main__':
    (ROOT / 'README.md').write_text(render_readme(), encoding='utf-8')
    print('wrote README.md')
