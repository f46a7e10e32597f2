"""Execute the notebooks in `nbs/` with `nbdev_test` semantics and keep (or check) their outputs.

    python tests/run_notebooks.py --save             # every notebook: run it, write its outputs into it
    python tests/run_notebooks.py --save nbs/X.ipynb # one (or a few) notebooks
    python tests/run_notebooks.py                    # run and compare with the committed outputs

A notebook runs the way `nbdev_test` runs it (`nbdev.test.test_nb`): execnb's `CaptureShell`, from inside
`nbs/`, cells flagged with one of `settings.ini`'s `tst_flags` (`#| slow`, ...) or `#| eval: false` skipped,
`nbdev_export()` cells skipped. On top of that, so that the outputs are the same on every run:

* before each notebook the random generators are seeded (`random`, numpy, torch: 0) and torch uses one thread;
* the terminal is 100 columns wide (`COLUMNS`, for argparse's help) whatever runs it;
* figures are PNGs at `DPI` dots per inch with no `Software` / date metadata;
* warnings are printed as `Category: message` (no file path or line), each once per place per notebook,
  but for those from inside torch's C++ code (once per process, with torch's build paths), left out;
* temporary directories made by `tempfile` are written `$TMP`, process ids `PID <pid>` (`scrub`);
* progress bars (tqdm lines with a rate or an elapsed time) are dropped from the captured stderr;
* skipped cells keep no output (the committed outputs are exactly what this runs);
* the notebook is written in `nbdev_clean`'s form (`settings.ini`: outputs kept, execution counts, volatile
  metadata and `at 0x...` ids stripped), so `nbdev_clean` leaves it unchanged.

`tests/test_notebooks.py` runs each notebook once through `run` and fails when its outputs differ from the
committed ones (`compare`): text exactly, except numbers within 1e-3 relative or one unit of their last printed
digit and runs of spaces next to them; images decoded, with fewer than `PIX_FRAC` of their pixels different.
`--save` also renders the README's pictures (`readme_figures.py`).
"""
from __future__ import annotations

import argparse, base64, copy, difflib, io, json, os, random, re, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
DPI = 72            # figure resolution in the committed notebooks (matplotlib's default figsize at 72 dpi: 460 x 345)
PIX_FRAC = 0.005    # an image may differ in fewer than this share of its pixels
PIX_TOL = 0.1       # a pixel differs when one channel differs by more than this (0..1)
SEED = 0


def notebooks(paths=()) -> list[Path]:
    "The notebooks named in `paths` (files or folders), or every notebook in nbs/ (as `nbdev_test` finds them)."
    if not paths: paths = [NBS]
    out = []
    for p in map(Path, paths):
        p = p.resolve()
        if p.is_dir(): out += sorted(q for q in p.glob('*.ipynb') if not q.name.startswith(('_', '.')))
        elif p.suffix == '.ipynb' and p.exists(): out.append(p)
        else: raise FileNotFoundError(f'no notebook {p}')
    return out


def _skip_flags():
    from nbdev.config import get_config
    return set(get_config(path=ROOT).tst_flags.split())


# ------------------------------------------------------------------------------------------------ running

def _no_eval(flags):
    "`nbdev.test.test_nb`'s cell filter: True for cells that are not run."
    def f(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export' + '(' in cell.source: return True
        direc = getattr(cell, 'directives_', {}) or {}
        if direc.get('eval:', [''])[0].lower() == 'false': return True
        return bool(flags & direc.keys())
    return f


def _seed_everything(seed=SEED):
    random.seed(seed)
    try:
        import numpy as np; np.random.seed(seed)
    except ImportError: pass
    try:
        import torch; torch.manual_seed(seed); torch.set_num_threads(1)
    except ImportError: pass


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings without the file path and line of their origin (those differ between checkouts). Warnings
    raised inside torch's C++ ('Triggered internally at <torch build path>') are left out: most are shown once
    per process (TORCH_WARN_ONCE), so whether a notebook shows them depends on what ran before it."""
    if 'Triggered internally at' in str(message): return
    (file or sys.stderr).write(f'{category.__name__}: {message}\n')


_BAR = re.compile(r'\[\d+:\d+(?::\d+)?<[^\]]*\]|\d+(?:\.\d+)?\s*(?:it|s|B|kB|MB)/(?:s|it)\b')


def _strip_progress(text: str) -> str:
    "A terminal's view of `text` (after each line's last carriage return) without tqdm's lines."
    lines = [ln.rsplit('\r', 1)[-1] for ln in text.split('\n')]
    return '\n'.join(ln for ln in lines if not _BAR.search(ln))


def _scrubs():
    "(pattern, replacement): temporary directories made by `tempfile` -> $TMP, process ids -> <pid>."
    import tempfile
    tmps = {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir())}
    tmp = '|'.join(re.escape(t.rstrip('/')) for t in sorted(tmps, key=len, reverse=True))
    return [(re.compile(rf'(?:{tmp})/tmp[a-z0-9_]{{8}}'), '$TMP'), (re.compile(r'\bPID \d+'), 'PID <pid>')]


def scrub(text: str) -> str:
    "`text` without what differs from run to run although the notebook is the same (see `_scrubs`)."
    for pat, rep in _scrubs(): text = pat.sub(rep, text)
    return text


def _tidy(outputs: list) -> list:
    """Outputs as they are committed: progress bars dropped, temp dirs and PIDs scrubbed (`scrub`), in
    `nbdev_clean`'s form."""
    from nbdev.clean import _clean_cell_output
    res = []
    for o in outputs:
        o = json.loads(json.dumps(o))       # AttrDicts -> plain dicts
        if o['output_type'] == 'stream':
            txt = scrub(_strip_progress(''.join(o['text'])))
            if not txt.strip(): continue
            o['text'] = txt.splitlines(True)
        for k, v in o.get('data', {}).items():
            if k.startswith('text/'): o['data'][k] = scrub(''.join(v)).splitlines(True)
        if o['output_type'] == 'error':
            o['evalue'] = scrub(o['evalue']); o['traceback'] = [scrub(t) for t in o['traceback']]
        res.append(o)
    cell = dict(outputs=res)
    _clean_cell_output(cell, _clean_ids())
    return res


def _clean_ids():
    from nbdev.config import get_config
    return get_config(path=ROOT).clean_ids


class NotebookError(Exception): pass


def run(nb_path, flags=None) -> dict:
    """Execute `nb_path` as `nbdev_test` does; {cell index: outputs} for every code cell (skipped cells: []).
    Raises `NotebookError` (with the notebook's traceback) when a cell fails."""
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    nb_path = Path(nb_path).resolve()
    flags = _skip_flags() if flags is None else set(flags)
    os.environ['IN_TEST'] = '1'
    os.environ['COLUMNS'], os.environ['LINES'] = '100', '40'   # argparse's help (and anything else) wraps the same everywhere
    nb = NBProcessor(nb_path, procs=FrontmatterProc, process=True).nb
    for c in nb.cells:      # the committed outputs: a cell that prints nothing keeps what it is given
        if c.cell_type == 'code': c.outputs = []
    outs = {c.idx_: [] for c in nb.cells if c.cell_type == 'code' and hasattr(c, 'idx_')}
    fm = getattr(nb, 'frontmatter_', {})
    if str(fm.get('skip_exec', False)).lower() in ('true', '1', 'yes'): return outs
    import matplotlib
    rc = dict(matplotlib.rcParams)
    with warnings.catch_warnings():
        # a fresh warnings state per notebook: Python's default filters, shown once per place, without paths
        warnings.resetwarnings()
        for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter('ignore', cat)
        warnings.filterwarnings('default', category=DeprecationWarning, module='__main__')
        warnings.showwarning = _show_warning
        _seed_everything()
        shell = CaptureShell(nb_path, mpl_format='png')
        shell.run_cell("set_matplotlib_formats('png', dpi=%d, metadata={'Software': None})" % DPI)
        try:
            with working_directory(nb_path.parent):
                shell.run_all(nb, exc_stop=True, preproc=_no_eval(flags))
        except BaseException as e:
            raise NotebookError(shell.prettytb(fname=nb_path)) from None
        finally:
            import matplotlib.pyplot as plt
            plt.close('all')
            matplotlib.rcParams.update(rc)
    for c in nb.cells:
        if c.cell_type == 'code' and hasattr(c, 'idx_') and c.get('outputs'): outs[c.idx_] = _tidy(c.outputs)
    return outs


# ------------------------------------------------------------------------------------------------ saving

def _clean_nb(nb: dict):
    from nbdev.clean import clean_nb
    from nbdev.config import get_config
    cfg = get_config(path=ROOT)
    clean_nb(nb, cfg.clear_all, cfg.get('allowed_metadata_keys').split(),
             cfg.get('allowed_cell_metadata_keys').split(), cfg.clean_ids)


def committed(nb_path) -> dict:
    "{cell index: outputs} of the code cells as the notebook file has them."
    cells = json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']
    return {i: c.get('outputs', []) for i, c in enumerate(cells) if c['cell_type'] == 'code'}


def save(nb_path, outs: dict) -> bool:
    "Write `outs` into the notebook's code cells, in `nbdev_clean`'s form. True when the file changed."
    from execnb.nbio import nb2str
    nb_path = Path(nb_path)
    old = nb_path.read_text(encoding='utf-8')
    nb = json.loads(old)
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] == 'code': c['outputs'] = outs.get(i, [])
    _clean_nb(nb)
    new = nb2str(nb)
    if new != old: nb_path.write_text(new, encoding='utf-8')
    return new != old


# ------------------------------------------------------------------------------------------------ comparing

_NUM = re.compile(r'[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?')


def _ulp(tok: str) -> float:
    "One unit in the last printed place of a number token ('1.25' -> 0.01, '3e-05' -> 1e-05, '120' -> 1)."
    mant, _, exp = tok.lower().partition('e')
    dec = len(mant.split('.')[1]) if '.' in mant else 0
    return 10.0 ** (-dec + (int(exp) if exp else 0))


def _numbers_close(a: str, b: str, rel=1e-3) -> bool:
    if a == b: return True
    x, y = float(a), float(b)
    return abs(x - y) <= rel * max(abs(x), abs(y)) or abs(x - y) <= max(_ulp(a), _ulp(b)) * (1 + 1e-9)


def _split(s: str):
    "Text as (texts between numbers, numbers); space runs in the texts collapsed to one space."
    nums = _NUM.findall(s)
    texts = [re.sub(r'[ \t]+', ' ', t) for t in _NUM.split(s)]
    return texts, nums


def text_close(a: str, b: str) -> bool:
    "Equal but for numbers within 1e-3 relative or one unit of their last printed digit (and space runs)."
    if a == b: return True
    (ta, na), (tb, nb) = _split(a), _split(b)
    return ta == tb and len(na) == len(nb) and all(map(_numbers_close, na, nb))


def _decode_png(b64) -> 'np.ndarray':
    import numpy as np
    from matplotlib.image import imread
    img = imread(io.BytesIO(base64.b64decode(''.join(b64))), format='png')
    if img.ndim == 2: img = img[..., None]
    return np.asarray(img, dtype=float)[..., :3]


def image_diff(a, b) -> str | None:
    "None when base64 PNGs `a` (committed) and `b` (fresh) agree (fewer than PIX_FRAC of pixels differ), else why not."
    if ''.join(a).strip() == ''.join(b).strip(): return None
    x, y = _decode_png(a), _decode_png(b)
    if x.shape != y.shape: return f'image size {y.shape[1]}x{y.shape[0]}, committed {x.shape[1]}x{x.shape[0]}'
    frac = float((abs(x - y).max(-1) > PIX_TOL).mean())
    return None if frac < PIX_FRAC else f'{100 * frac:.2f}% of the pixels differ (tolerance {100 * PIX_FRAC}%)'


def _text(v): return ''.join(v) if isinstance(v, list) else v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def _short_diff(old: str, new: str, n=12) -> str:
    d = list(difflib.unified_diff(old.splitlines(), new.splitlines(), 'committed', 'fresh', lineterm='', n=1))
    return '\n'.join(d[:n] + ([f'... ({len(d) - n} more diff lines)'] if len(d) > n else []))


def _describe(outputs) -> str:
    parts = []
    for o in outputs:
        if o['output_type'] == 'stream': parts.append(f"[{o['name']}]\n" + _text(o['text']))
        elif o['output_type'] == 'error': parts.append(f"[error] {o.get('ename')}: {o.get('evalue')}")
        else: parts.append(f"[{o['output_type']}] " + ', '.join(
            k if k.startswith('image/') else f'{k}:\n{_text(v)}' for k, v in sorted(o.get('data', {}).items())))
    return '\n'.join(parts)


def output_diff(old: list, new: list) -> str | None:
    "None when a cell's fresh outputs `new` agree with its committed outputs `old`, else a short description."
    kinds = lambda outs: [(o['output_type'], o.get('name'), sorted(o.get('data', {}))) for o in outs]
    if kinds(old) != kinds(new):
        return 'outputs differ in kind or number:\n' + _short_diff(_describe(old), _describe(new))
    for o, n in zip(old, new):
        if o['output_type'] == 'stream':
            a, b = _text(o['text']), _text(n['text'])
            if not text_close(a, b): return f"[{o['name']}]\n" + _short_diff(a, b)
            continue
        if o['output_type'] == 'error':
            if (o.get('ename'), o.get('evalue')) != (n.get('ename'), n.get('evalue')): return 'error outputs differ'
            continue
        for k, v in o.get('data', {}).items():
            w = n['data'][k]
            if k.startswith('image/') and 'svg' not in k:
                why = image_diff(v, w)
                if why: return f'{k}: {why}'
            elif not text_close(_text(v), _text(w)): return f'{k}:\n' + _short_diff(_text(v), _text(w))
    return None


def compare(nb_path, fresh: dict) -> list[tuple[int, str]]:
    "[(cell number, why)] for the code cells whose fresh outputs differ from the committed ones."
    old = committed(nb_path)
    res = []
    for i in sorted(set(old) | set(fresh)):
        if i not in old or i not in fresh: res.append((i, 'the notebook changed while it ran')); continue
        why = output_diff(old[i], fresh[i])
        if why: res.append((i, why))
    return res


def report(nb_path, diffs) -> str:
    nb_path = Path(nb_path)
    rel = nb_path.relative_to(ROOT) if nb_path.is_relative_to(ROOT) else nb_path
    lines = [f'{rel}: the committed outputs of {len(diffs)} cell(s) are not what the notebook produces '
             f'(cells counted from 0, markdown cells included):']
    for i, why in diffs: lines += [f'--- cell {i}:', why]
    lines.append(f'refresh them with: python tests/run_notebooks.py --save {rel}')
    return '\n'.join(lines)


# ------------------------------------------------------------------------------------------------ command

_VOLATILE = re.compile('|'.join([r'0x[0-9a-fA-F]{6,}', '/tmp/', '/var/folders/', re.escape(str(ROOT)),
                                  re.escape(str(Path.home()))]))


def volatile(outs: dict) -> list[tuple[int, str]]:
    """Text in the outputs that looks like an address or a temporary or absolute path (printed as a warning;
    timings are caught by running twice: `--save`, then `git diff`)."""
    res = []
    for i, os_ in outs.items():
        txt = _describe(os_)
        res += [(i, s) for s in dict.fromkeys(m.group(0) for m in _VOLATILE.finditer(txt))]
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('notebooks', nargs='*', help='notebooks or folders (default: nbs/)')
    ap.add_argument('--save', action='store_true', help='write the outputs into the notebooks')
    ap.add_argument('--no-figures', action='store_true', help="with --save: don't render the README's figures")
    a = ap.parse_args(argv)
    os.environ.setdefault('MPLBACKEND', 'Agg')
    flags, bad, t00 = _skip_flags(), 0, time.time()
    for p in notebooks(a.notebooks):
        t0 = time.time()
        try: outs = run(p, flags)
        except NotebookError as e:
            print(f'FAILED {p.name}\n{e}', flush=True); bad += 1; continue
        dt = time.time() - t0
        for i, s in volatile(outs): print(f'  warning: {p.name} cell {i}: volatile-looking output {s!r}', flush=True)
        if a.save:
            print(f'{"wrote" if save(p, outs) else "unchanged"} {p.name} ({dt:.0f} s)', flush=True)
        else:
            diffs = compare(p, outs)
            print((report(p, diffs) if diffs else f'ok {p.name}') + f' ({dt:.0f} s)', flush=True)
            bad += bool(diffs)
    if a.save and not a.no_figures and not a.notebooks:
        import readme_figures
        for f in readme_figures.render(): print(f'wrote {f.relative_to(ROOT)}')
    print(f'{time.time() - t00:.0f} s in all; {bad} notebook(s) {"failed" if a.save else "failed or differ"}')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
