"""This machine's matmul peak (GFLOP/s), the yardstick for the achieved FLOP/s that `train_step.py` reports.

Square matmuls of growing size in float32 and bfloat16 (the CPU's AMX/AVX-512 units make bf16 much faster
where they exist); the best of several repeats. Not a timed test: run it by hand.

    python bench/matmul_peak.py [--threads N] [--out bench/results/matmul_peak.json]
"""
import argparse, json, platform, time
from pathlib import Path

import torch


def peak(dtype, n: int, repeats: int = 5, device='cpu') -> float:
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if str(device).startswith('cuda') else (lambda: None)
    a @ b; sync()
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter(); a @ b; sync(); best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=None); p.add_argument('--device', default='cpu'); p.add_argument('--out', default=None)
    args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    res = {str(dt).split('.')[-1]: {n: round(peak(dt, n, device=args.device), 1) for n in (512, 1024, 2048, 4096)}
           for dt in (torch.float32, torch.bfloat16)}
    info = dict(device=args.device, cpu=platform.processor() or platform.machine(), threads=torch.get_num_threads(), torch=torch.__version__)
    for dt, r in res.items(): print(f'{dt:9s} ' + '  '.join(f'n={n}: {g:7.1f} GFLOP/s' for n, g in r.items()))
    if args.out: Path(args.out).write_text(json.dumps(dict(info=info, gflops=res), indent=1))


if __name__ == '__main__':
    main()
