"""Data-loading benchmark: our HDF5 store + `AVQADataset` vs the official MUSIC-AVQA access pattern.

Both loaders serve the same questions from the same generated videos of the real size
(VGGish audio [60, 128] and ResNet-18 maps [60, 512, 14, 14], float32 `.npy` per video), in one run:

* official pattern (the AVST / Missing-AVQA loaders): `np.load` of the whole audio and visual file of the
  question's video, keep every 6th segment, then for each of the T=10 negative frames `np.load` of one
  whole *other* video's visual file to take one frame from it;
* ours: `convert_official` once into the float16 store, then `AVQADataset` (audio from memory, the
  video's T visual chunks in one read, T single-frame negative chunks per question), returning float16 as stored (the default; the
  training loop casts on the device) and, for comparison, float32 cast on the CPU; negatives as the
  default `negatives='frames'` (AVST: each negative frame from a random other video) and `'video'`;
* the cost of the stores' Fletcher-32 checksums: the same store re-written without them, against reads that
  compute every chunk's checksum (a process's first pass, warm and cold) and later reads (chunks checked before).

Warm: every file already in the page cache. Cold: before each sample the page cache of every benchmark
file is dropped with posix_fadvise(DONTNEED), so each read comes from the disk (no root needed).
Bytes read are the `rchar` counter of /proc/self/io. Not a timed test: run it by hand.

    python bench/loader.py [--videos 48] [--workdir bench/_data] [--budget 12]
"""
import argparse, json, os, platform, time
from pathlib import Path

import numpy as np
import torch

from avqa_missing.data import (AVQADataset, FeatureStore, Sampling, Vocab, convert_official, make_questions,
                               load_annotations, make_loader)

ROOT = Path(__file__).resolve().parent.parent


def rchar() -> int:
    "Bytes this process has read through read()/pread() so far (page-cache hits included)."
    for line in Path('/proc/self/io').read_text().splitlines():
        if line.startswith('rchar:'): return int(line.split()[1])
    raise RuntimeError('no rchar in /proc/self/io')


def drop_cache(paths):
    "Evict the page cache of `paths` (clean pages) so the next read comes from the disk."
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally: os.close(fd)


def warm_cache(paths):
    for p in paths:
        with open(p, 'rb') as f:
            while f.read(1 << 24): pass


def make_official(root: Path, n_videos: int, seed: int = 0):
    "Real-size official layout: audio [60, 128] and visual [60, 512, 14, 14] float32 per video."
    a_dir, v_dir = root/'audio', root/'visual'
    done = root/f'.complete-{n_videos}'
    if done.exists(): return a_dir, v_dir
    for d in (a_dir, v_dir): d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n_videos):
        np.save(a_dir/f'{i:08d}.npy', rng.random((60, 128), dtype=np.float32))
        np.save(v_dir/f'{i:08d}.npy', np.maximum(rng.standard_normal((60, 512, 14, 14), dtype=np.float32), 0))
    done.touch()
    return a_dir, v_dir


class OfficialPattern:
    "The official loaders' reads for one question (AVST dataloader, used unchanged by Missing-AVQA)."
    def __init__(self, questions, a_dir, v_dir, video_ids, stride=6, seed=0):
        self.q, self.a_dir, self.v_dir, self.ids, self.stride = questions, a_dir, v_dir, video_ids, stride
        self.rng = np.random.default_rng(seed)
    def __len__(self): return len(self.q)
    def __getitem__(self, i):
        vid = self.q[i].video_id
        audio = torch.from_numpy(np.load(self.a_dir/f'{vid}.npy')[::self.stride])             # whole file read
        visual = torch.from_numpy(np.load(self.v_dir/f'{vid}.npy')[::self.stride])            # whole file read
        negs = []
        for _ in range(visual.shape[0]):                                                      # one whole other file per frame
            other = self.ids[(self.ids.index(vid) + 1 + self.rng.integers(len(self.ids) - 1)) % len(self.ids)]
            negs.append(torch.from_numpy(np.load(self.v_dir/f'{other}.npy'))[self.rng.integers(60)])
        return dict(audio=audio.float(), visual=visual.float(), neg_visual=torch.stack(negs).float())


def write_plain_copy(src: Path, dst: Path):
    "`src` re-written with the same chunks and attributes but no checksums."
    import h5py
    if dst.exists(): dst.unlink()
    with h5py.File(src, 'r') as f, h5py.File(dst, 'w') as g:
        g.create_dataset('video_ids', data=f['video_ids'][()], dtype=f['video_ids'].dtype)
        for k in ('audio', 'visual'): g.create_dataset(k, data=f[k][()], chunks=f[k].chunks)
        g.attrs.update(f.attrs)


def measure(ds, order, budget_s, cold_paths=None, first_reads=False):
    "Items of `ds` in `order` until `budget_s` of loading time: (samples/s, MB read per sample, n); `first_reads`: no chunk checked yet."
    t_load, n, read0 = 0.0, 0, rchar()
    for i in order:
        if cold_paths: drop_cache(cold_paths)
        if first_reads: ds.store.checked[:] = False                   # as if this process had never read these chunks
        t0 = time.perf_counter(); item = ds[int(i)]; t_load += time.perf_counter() - t0
        n += 1
        if t_load > budget_s: break
    assert item['visual'].shape[1:] == (512, 14, 14)
    return n / t_load, (rchar() - read0) / n / 1e6, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--videos', type=int, default=48)
    ap.add_argument('--workdir', default=str(ROOT/'bench'/'_data'))
    ap.add_argument('--budget', type=float, default=12.0, help='seconds of loading per measurement')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'loader.json'))
    a = ap.parse_args()
    work = Path(a.workdir); work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    t0 = time.perf_counter(); a_dir, v_dir = make_official(work/'official', a.videos); t_gen = time.perf_counter() - t0
    store_path = work/'store.h5'
    if store_path.exists(): store_path.unlink()
    t0 = time.perf_counter(); convert_official(a_dir, v_dir, store_path, progress=False); t_conv = time.perf_counter() - t0
    ids = FeatureStore(store_path).video_ids
    plain_path = work/'store_no_checksums.h5'                          # the same store without Fletcher-32 checksums, for their cost
    write_plain_copy(store_path, plain_path)
    templates = load_annotations(ROOT/'nbs'/'music_avqa'/'avqa-val.json')[:500]
    qs = make_questions(ids, 4000, seed=0, templates=templates)
    order = np.random.default_rng(1).permutation(len(qs))
    vocab = Vocab.build(qs)
    ours = AVQADataset(qs, store_path, vocab)                          # default: float16 as stored, cast on the device
    ours32 = AVQADataset(qs, store_path, vocab, dtype=torch.float32)   # cast to float32 on the CPU, like the official loader
    ours_video = AVQADataset(qs, store_path, vocab, negatives='video')  # the T negatives from one other video
    ours_plain = AVQADataset(qs, plain_path, vocab)                    # no checksums (stores written before they were added)
    official = OfficialPattern(qs, a_dir, v_dir, ids)
    official_files = sorted(a_dir.glob('*.npy')) + sorted(v_dir.glob('*.npy'))

    res = {}
    warm_cache(official_files + [store_path])
    res['official_warm'] = measure(official, order, a.budget)
    res['ours_warm'] = measure(ours, order, a.budget)
    res['ours_no_checksums_warm'] = measure(ours_plain, order, a.budget)
    res['ours_first_read_warm'] = measure(ours, order, a.budget, first_reads=True)   # every chunk's checksum computed
    res['ours_float32_warm'] = measure(ours32, order, a.budget)
    res['ours_video_negatives_warm'] = measure(ours_video, order, a.budget)
    res['official_cold'] = measure(official, order, a.budget, cold_paths=official_files)
    res['ours_cold'] = measure(ours, order, a.budget, cold_paths=[store_path], first_reads=True)   # from disk: first reads
    res['ours_no_checksums_cold'] = measure(ours_plain, order, a.budget, cold_paths=[plain_path])
    res['ours_video_negatives_cold'] = measure(ours_video, order, a.budget, cold_paths=[store_path])
    warm_cache([store_path])
    loader = make_loader(ours, batch_size=16, shuffle=True, num_workers=2)
    t0, n = time.perf_counter(), 0
    for b in loader:
        n += len(b['answer'])
        if time.perf_counter() - t0 > a.budget: break
    res['ours_dataloader_2workers_warm'] = (n / (time.perf_counter() - t0), float('nan'), n)

    out = dict(
        machine=f'{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, torch {torch.__version__}',
        videos=a.videos, video_mb=round((a_dir/'00000000.npy').stat().st_size / 1e6 + (v_dir/'00000000.npy').stat().st_size / 1e6, 1),
        store_mb=round(store_path.stat().st_size / 1e6, 1), convert_s=round(t_conv, 2), generate_s=round(t_gen, 2),
        results={k: dict(samples_per_s=round(v[0], 2), mb_read_per_sample=round(v[1], 2), samples=v[2]) for k, v in res.items()},
        speedup_warm=round(res['ours_warm'][0] / res['official_warm'][0], 1),
        speedup_cold=round(res['ours_cold'][0] / res['official_cold'][0], 1),
        checksum_cost=dict(first_read_warm=round(1 - res['ours_first_read_warm'][0] / res['ours_no_checksums_warm'][0], 3),
                           later_reads_warm=round(1 - res['ours_warm'][0] / res['ours_no_checksums_warm'][0], 3),
                           first_read_cold=round(1 - res['ours_cold'][0] / res['ours_no_checksums_cold'][0], 3)),
        date=time.strftime('%Y-%m-%d'))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + '\n')
    print(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
