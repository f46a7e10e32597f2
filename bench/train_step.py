"""Training-step benchmark of `MissingAVQA` at the paper's sizes (issue 7, "must show").

Paper sizes: VGGish audio [T, 128], ResNet-18 maps [T, 512, 14, 14], T = 10 segments, AVST with d = 512,
L = 75 RMM slots, 10 diffusion steps, batch 4 (the paper's batch size). Random float16 features with the
layout `data.collate_avqa` produces (negative frames included, for AVST's match loss).

For each method (`baseline` = AVST alone, `ours` = AVST + RMM + AVR, Eq. 8) it measures, in a fresh
subprocess so that peak memory is per configuration:

* `step_s`: one training step = `model.losses(batch)` + backward + Adam step (median of `--steps` steps
  after `--warmup` untimed ones) and its min / max;
* `infer_s`: `model(batch)` under `torch.no_grad()` in eval mode for the complete, audio-missing and
  visual-missing batches (median of `--steps` calls);
* peak memory: on CUDA `torch.cuda.max_memory_allocated` during the training steps; on CPU the process's
  peak resident set (`resource.getrusage(...).ru_maxrss`) and the resident set just before the first
  step (model, optimizer and batch built), so `peak_rss_mib - rss_before_mib` is what the steps add;
* `host_syncs_forward_backward`: the ops of one forward + backward that need a device value on the host
  (`train.HostSyncCounter`), with the model's value checks off as the training loop runs it (the plain Adam
  used here for timing syncs on the CPU; the loop's fused Adam does not, see `06_train`);
* FLOPs (`torch.utils.flop_counter.FlopCounterMode`: matmuls and convolutions, forward and backward) of one
  training step, counted in train mode (`train.step_flops`; in eval mode the reverse chain would run without
  gradients and its backward would be missed), and of one evaluated batch per scenario, the achieved FLOP/s, and
  samples/s
  (`batch / step_s`, to set against the loader's samples/s in `bench/results/loader.json`).

Not a timed test: run it by hand, e.g.

    python bench/train_step.py                      # CPU, both methods, threads = all cores
    python bench/train_step.py --device cuda --amp bf16
    python bench/train_step.py --out bench/results/train_step.json
    python bench/train_step.py --batch 2 --methods ours --amp bf16
    python bench/train_step.py --device cuda --amp bf16 --channels-last
    python bench/train_step.py --batch 2 --methods ours --preset authors          # the method as the authors' code runs it
    python bench/train_step.py --batch 2 --methods ours --avr_json '{"hidden": 512, "width": 184}'   # a larger denoiser
"""
import argparse, json, platform, resource, statistics, subprocess, sys, time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from avqa_missing.model import PRESETS, ModelConfig, build_model, preset_settings
from avqa_missing.train import step_flops
from avqa_missing.runtime import HostSyncCounter

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    "Current resident set of this process (MiB), from /proc/self/status."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')


def paper_batch(B: int, T: int, device, seed: int = 0) -> dict:
    "A complete batch at paper sizes as collate_avqa makes it (float16 features, right-padded question ids)."
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(1, 93, (B, 14), generator=g) * (torch.arange(14) < torch.randint(6, 15, (B, 1), generator=g))
    b = dict(question=q, answer=torch.randint(0, 42, (B,), generator=g), qtype=torch.zeros(B, dtype=torch.long),
             index=torch.arange(B), audio_present=torch.ones(B, dtype=torch.bool), visual_present=torch.ones(B, dtype=torch.bool),
             audio=torch.randn(B, T, 128, generator=g).half(), visual=torch.randn(B, T, 512, 14, 14, generator=g).relu().half(),
             neg_visual=torch.randn(B, T, 512, 14, 14, generator=g).relu().half())
    return {k: v.to(device) for k, v in b.items()}


def without(batch: dict, kind: str) -> dict:
    "The batch with `kind` missing for every sample (key absent)."
    drop = ('audio',) if kind == 'audio' else ('visual', 'neg_visual')
    return {**{k: v for k, v in batch.items() if k not in drop}, f'{kind}_present': torch.zeros_like(batch[f'{kind}_present'])}


def run_one(method: str, args) -> dict:
    "Measure one method in this process."
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    amp = dict(bf16=torch.bfloat16, fp16=torch.float16).get(args.amp)
    torch.manual_seed(0)
    settings = preset_settings(args.preset, method=method, n_slots=args.slots, n_steps=args.diffusion_steps)
    settings['avr_settings'] = {**settings.get('avr_settings', {}), **json.loads(args.avr_json or '{}')}
    model = build_model(ModelConfig(**settings)).to(dev).train()
    if args.channels_last: model = model.to(memory_format=torch.channels_last)   # TrainConfig.channels_last
    model.set_value_checks(False)                                # as the training loop runs it (TrainConfig.value_checks=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = paper_batch(args.batch, args.segments, dev)
    n_params = sum(p.numel() for p in model.parameters())
    rss_before = rss_mib()
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)

    def step():
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
            loss = model.losses(batch)['total']
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

    times = []
    for i in range(args.warmup + args.steps):
        sync(); t0 = time.perf_counter(); step(); sync()
        if i >= args.warmup: times.append(time.perf_counter() - t0)
    out = dict(method=method, parameters=n_params, step_s=statistics.median(times), step_min_s=min(times), step_max_s=max(times),
               samples_per_s=args.batch / statistics.median(times))
    if dev.type == 'cuda': out['peak_mem_mib'] = torch.cuda.max_memory_allocated(dev) / 2**20
    else: out.update(rss_before_mib=rss_before, peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    model.eval(); out['infer_s'] = {}
    for name, bt in (('complete', batch), ('audio-missing', without(batch, 'audio')), ('visual-missing', without(batch, 'visual'))):
        ts = []
        for _ in range(args.steps):
            sync(); t0 = time.perf_counter()
            with torch.no_grad(), torch.autocast(dev.type, dtype=amp, enabled=amp is not None): model(bt)
            sync(); ts.append(time.perf_counter() - t0)
        out['infer_s'][name] = statistics.median(ts)
    flops = step_flops(model, batch)                             # train mode, whatever the loop above left
    out['step_flops'] = flops['total']; out['step_flop_per_s'] = out['step_flops'] / out['step_s']
    with HostSyncCounter() as hc:                                 # the model's part of the step; the loop's fused Adam is sync-free (06_train)
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None): loss = model.losses(batch)['total']
        loss.backward()
    out['host_syncs_forward_backward'] = dict(hc.ops)           # ops that need a device value on the host (05_model, 06_train)
    opt.zero_grad(set_to_none=True)
    out['infer_flops'] = {}
    for name, bt in (('complete', batch), ('audio-missing', without(batch, 'audio')), ('visual-missing', without(batch, 'visual'))):
        with torch.no_grad(), torch.autocast(dev.type, dtype=amp, enabled=amp is not None), FlopCounterMode(display=False) as fc: model(bt)
        out['infer_flops'][name] = fc.get_total_flops()
    out['step_flops_by_module'] = dict(sorted(((m, v) for m, v in flops['by_module'].items() if m.count('.') <= 2),
                                              key=lambda kv: -kv[1])[:12])
    out['denoiser_parameters'] = sum(p.numel() for p in model.avr.eps_theta.parameters()) if model.avr is not None else 0
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--methods', nargs='+', default=['baseline', 'ours'], choices=['baseline', 'ours'])
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--segments', type=int, default=10)
    p.add_argument('--slots', type=int, default=75)
    p.add_argument('--diffusion-steps', type=int, default=10)
    p.add_argument('--steps', type=int, default=5, help='timed steps (after --warmup untimed ones)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: torch default)')
    p.add_argument('--amp', default='none', choices=['none', 'bf16', 'fp16'])
    p.add_argument('--channels-last', action='store_true', help='convolution weights in channels_last layout (TrainConfig.channels_last)')
    p.add_argument('--preset', default='ours', choices=list(PRESETS), help="the method's settings (model.PRESETS)")
    p.add_argument('--avr_json', default=None, help='AVRConfig fields over the preset, as a JSON object')
    p.add_argument('--out', default=None, help='write the results as JSON here')
    p.add_argument('--one', default=None, help=argparse.SUPPRESS)   # internal: run one method, print JSON
    args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(run_one(args.one, args))); return
    rows = []
    for m in args.methods:   # one subprocess per method: peak memory is a per-process high-water mark
        argv = ['--device', args.device, '--batch', args.batch, '--segments', args.segments, '--slots', args.slots,
                '--diffusion-steps', args.diffusion_steps, '--steps', args.steps, '--warmup', args.warmup, '--amp', args.amp,
                *(['--threads', args.threads] if args.threads else []), *(['--channels-last'] if args.channels_last else []),
                '--preset', args.preset, *(['--avr_json', args.avr_json] if args.avr_json else []), '--one', m]
        res = subprocess.run([sys.executable, __file__, *map(str, argv)], capture_output=True, text=True, check=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    info = dict(device=args.device, gpu=torch.cuda.get_device_name(0) if args.device.startswith('cuda') else None,
                cpu=platform.processor() or platform.machine(), threads=args.threads or torch.get_num_threads(),
                torch=torch.__version__, batch=args.batch, segments=args.segments, slots=args.slots,
                diffusion_steps=args.diffusion_steps, amp=args.amp, preset=args.preset, avr_json=json.loads(args.avr_json or '{}'), channels_last=args.channels_last, audio=[args.segments, 128], visual=[args.segments, 512, 14, 14])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(dict(info=info, results=rows), indent=1))
    for r in rows:
        mem = f"peak {r['peak_mem_mib']:.0f} MiB" if 'peak_mem_mib' in r else f"peak RSS {r['peak_rss_mib']:.0f} MiB (before steps {r['rss_before_mib']:.0f})"
        print(f"{r['method']:8s} {r['parameters'] / 1e6:6.2f} M params  step {r['step_s']:.3f} s (min {r['step_min_s']:.3f})  {mem}  "
              f"inference complete/audio-missing/visual-missing: " + ' / '.join(f'{v:.3f}' for v in r['infer_s'].values()) + ' s')
        print(f"{'':8s} step {r['step_flops'] / 1e12:.3f} TFLOP ({r['step_flop_per_s'] / 1e9:.0f} GFLOP/s achieved), {r['samples_per_s']:.2f} samples/s; "
              f"inference " + ' / '.join(f'{v / 1e9:.0f}' for v in r['infer_flops'].values()) + ' GFLOP per batch')


if __name__ == '__main__':
    main()
