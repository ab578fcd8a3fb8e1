#!/usr/bin/python3
"""Driver of run_model.sh: runs `recur bench`, peer_torch_model.py and bench_ops side by side, writes
JSON lines under --out and prints markdown tables (issue 8) to stdout; progress goes to stderr.

Sections:
  a. matmul peak: bench_ops BM_matmul_onednn_primitive (f32) and BM_matmul_onednn_bf16 (bf16 in,
     f32 out) on model S's three shapes and 1024^3, medians of 3 repetitions; the peak of a dtype is
     its best median over the shapes.
  b. side by side: models S and M, train r 4 k 4 (Muon + AdamW), fwd r 4, fwd r 16, at f32 and bf16;
     recur at --recur-threads, PyTorch best of --torch-threads; recur first, then PyTorch, per case.
     Each case runs --rounds times (default 2), alternating recur and PyTorch; the best of each side
     is kept. Right before each recur run, the matmul peak of its precision is measured again (the
     best of 2048 x 256 x 704 and 1024^3, 3 short runs each): this machine's speed drifts, so
     utilisation is model GFLOP/s over the largest of those peaks and a's.
  c. recur's time per step against n + k (model S, train, Muon + AdamW, f32) and a least-squares fit
     seconds = c0 + cn n + ck k.
  d. scaling: benchmarks/configs/scale_d{128,256,512,1024}.json x r in {1, 4, 16, 32}, train
     (k = r up to 4, then k = 4: n = r - 4 iterations without gradient) and fwd, recur and PyTorch.
     PyTorch runs at the thread count that won the f32 case of the same mode in b (model S).
Model GFLOP/s of PyTorch = its tokens/s x recur's model_flops_per_token for the same case.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer_torch_model.py")
CONFIGS = os.path.join(HERE, "configs")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, a):
        self.a = a
        self.out = a.out
        self.torch_ok = subprocess.run([a.python, "-c", "import torch"], capture_output=True).returncode == 0
        if not self.torch_ok:
            log(f"{a.python} cannot import torch (apt-get install python3-torch): PyTorch columns left empty")

    def call(self, file, cmd, env_extra, tag, side):
        env = dict(os.environ, **env_extra)
        start = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.time() - start
        line = None
        if p.returncode == 0:
            try:
                line = json.loads(p.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                pass
        if line is None:
            err = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
            log(f"  FAILED ({p.returncode}): {' '.join(cmd)}: {err}")
            line = {"error": err}
        line["case"], line["side"], line["wall_s"] = tag, side, round(wall, 2)
        with open(os.path.join(self.out, file), "a") as f:
            f.write(json.dumps(line) + "\n")
        return line if "error" not in line else None

    def recur(self, file, tag, model, mode, r, k=None, precision="f32", min_seconds=1.0, batch=0, seq=0, ns="matmul",
              optimizer="muon_adamw"):
        cmd = [self.a.recur, "bench", "--precision", precision, "--model-config", model, "--mode", mode, "--r", str(r),
               "--min-seconds", str(max(min_seconds, 0.001))]
        if mode == "train":
            cmd += ["--k", str(k), "--optimizer", optimizer, "--ns-precision", ns]
        if batch:
            cmd += ["--batch", str(batch), "--seq", str(seq)]
        line = self.call(file, cmd, {"OMP_NUM_THREADS": str(self.a.recur_threads)}, tag, "recur")
        if line:
            log(f"  recur {tag}: {line['tokens_per_s']:.0f} tok/s, {line['seconds_per_step']:.2f} s/step "
                f"({line['wall_s']:.0f} s)")
        return line

    def torch(self, file, tag, model, mode, r, k=None, precision="f32", min_seconds=1.0, batch=0, seq=0, threads=None,
              ns="matmul", optimizer="muon_adamw"):
        if not self.torch_ok:
            return None
        cmd = [self.a.python, PEER, "--model-config", model, "--mode", mode, "--r", str(r),
               "--min-seconds", str(min_seconds), "--threads", threads or self.a.torch_threads, "--precision", precision]
        if mode == "train":
            cmd += ["--k", str(k), "--optimizer", optimizer, "--ns-precision", ns]
        if batch:
            cmd += ["--batch", str(batch), "--seq", str(seq)]
        line = self.call(file, cmd, {}, tag, "torch")
        if line:
            log(f"  torch {tag}: {line['tokens_per_s']:.0f} tok/s, {line['seconds_per_step']:.2f} s/step, "
                f"{line['threads']} threads ({line['wall_s']:.0f} s)")
        return line


def threads(n):
    return f"{n} thread{'' if str(n) == '1' else 's'}"


def fmt(x, digits=0, suffix=""):
    if x is None:
        return "-"
    return f"{x:.{digits}f}{suffix}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def emit(md_file, text=""):
    print(text, flush=True)
    with open(md_file, "a") as f:
        f.write(text + "\n")


def section_peak(a, run, md):
    """a. the oneDNN matmul peak per dtype."""
    log("[a] matmul peak (bench_ops)")
    ops_json = os.path.join(a.out, "bench_ops.json")
    reps = 1 if a.quick else 3
    cmd = [a.bench_ops, "--benchmark_filter=BM_matmul_onednn_(primitive|bf16)/", f"--benchmark_repetitions={reps}",
           "--benchmark_report_aggregates_only=true", f"--benchmark_out={ops_json}", "--benchmark_out_format=json"]
    if a.quick:
        cmd.append("--benchmark_min_time=0.05")
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(a.recur_threads)))
    if p.returncode != 0:
        log(f"  bench_ops failed: {p.stderr.strip()[-300:]}")
        return {}
    bench = json.load(open(ops_json))["benchmarks"]
    stat = "median" if reps > 1 else None
    rows, peak = [], {}
    for name, dtype in (("BM_matmul_onednn_primitive", "f32"), ("BM_matmul_onednn_bf16", "bf16")):
        for b in bench:
            if not b["name"].startswith(name + "/") or (stat and b.get("aggregate_name") != stat):
                continue
            if b.get("error_occurred"):  # bf16 on a CPU without bf16 matmul
                continue
            if not stat and b.get("run_type") == "aggregate":
                continue
            shape = b["name"][len(name) + 1:].split("/")[:3]
            gf = b["FLOPS"] / 1e9
            rows.append([dtype, " x ".join(s.split(":")[-1] for s in shape), fmt(gf, 1)])
            peak[dtype] = max(peak.get(dtype, 0.0), gf)
    emit(md, f"### a. oneDNN matmul peak, {threads(a.recur_threads)} ({'median of 3' if reps > 1 else '1 run'})\n")
    emit(md, table(["dtype (src/wei; dst f32)", "M x N x K", "GFLOP/s"], rows))
    emit(md, "\npeak: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peak.items()) + "\n")
    with open(os.path.join(a.out, "peak.json"), "w") as f:
        json.dump(peak, f)
    return peak


def peak_beside(a, precision):
    """The oneDNN matmul rate of `precision` (the best of 2048 x 256 x 704 and 1024^3, 3 short runs each),
    measured now."""
    name = "BM_matmul_onednn_primitive" if precision == "f32" else "BM_matmul_onednn_bf16"
    p = subprocess.run([a.bench_ops, f"--benchmark_filter={name}/(M:2048/N:256/K:704|M:1024/N:1024/K:1024)/",
                        "--benchmark_repetitions=3",
                        "--benchmark_min_time=0.2", "--benchmark_format=json"],
                       capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(a.recur_threads)))
    if p.returncode != 0:
        return None
    rates = [b["FLOPS"] / 1e9 for b in json.loads(p.stdout)["benchmarks"]
             if b.get("run_type") != "aggregate" and not b.get("error_occurred")]
    return max(rates) if rates else None


def util(gflops, peak):
    return None if gflops is None or not peak else 100.0 * gflops / peak


def section_side(a, run, md, peak):
    """b. recur and PyTorch side by side on S and M."""
    log("[b] side by side")
    ms = 0.01 if a.quick else a.min_seconds
    cases = [("S", "train", 4, 4), ("S", "fwd", 4, None), ("S", "fwd", 16, None),
             ("M", "train", 4, 4), ("M", "fwd", 4, None), ("M", "fwd", 16, None)]
    if a.quick:
        cases = [("S", "train", 1, 1), ("S", "fwd", 1, None)]
    rows, winners, flops_of = [], {}, {}
    for model, mode, r, k in cases:
        # Training also runs f32 with Newton-Schulz in bf16 (as the reference Muon does it), and f32 without
        # the optimizer step (forward + backward only), which shows what the step's uncounted Newton-Schulz
        # FLOPs cost in utilisation.
        variants = ([("f32", "matmul", "muon_adamw"), ("f32", "bf16", "muon_adamw"), ("f32", "matmul", "none"),
                     ("bf16", "matmul", "muon_adamw")] if mode == "train" else
                    [("f32", "matmul", "muon_adamw"), ("bf16", "matmul", "muon_adamw")])
        for precision, ns, optimizer in variants:
            label = precision + (f", NS {ns}" if ns != "matmul" else "") + (", fwd + bwd only" if optimizer == "none" else "")
            tag = f"{model} {mode} r{r}" + (f" k{k}" if k is not None else "") + f" {label}"
            rl = tl = local = None
            for _ in range(1 if a.quick else a.rounds):  # alternating, the best of each side
                local = max(filter(None, (local, peak_beside(a, precision))), default=None)
                line = run.recur("side.jsonl", tag, model, mode, r, k, precision, ms, ns=ns, optimizer=optimizer)
                if line and (not rl or line["tokens_per_s"] > rl["tokens_per_s"]):
                    rl = line
                line = run.torch("side.jsonl", tag, model, mode, r, k, precision, ms, ns=ns, optimizer=optimizer)
                if line and (not tl or line["tokens_per_s"] > tl["tokens_per_s"]):
                    tl = line
            top = max(filter(None, (local, peak.get(precision))), default=None)
            flops = rl["model_flops_per_token"] if rl else flops_of.get((model, mode, r, k))
            if rl:
                flops_of[(model, mode, r, k)] = flops
            rt, tt = (rl or {}).get("tokens_per_s"), (tl or {}).get("tokens_per_s")
            rg = (rl or {}).get("model_gflops")
            tg = tt * flops / 1e9 if tt and flops else None
            if tl and model == "S" and precision == "f32" and mode not in winners:
                winners[mode] = str(tl["threads"])
            rows.append([f"{model} {mode} r={r}" + (f" k={k}" if k is not None else ""), label, fmt(rt), fmt(tt),
                         fmt(rt / tt if rt and tt else None, 2, "x"), fmt(rg, 1), fmt(local, 1), fmt(util(rg, top), 1, " %"),
                         fmt(tg, 1), fmt(util(tg, top), 1, " %"), (tl or {}).get("threads", "-")])
    bs = "model S B=8 T=256, model M B=4 T=256" if not a.quick else "quick: model S, B=8 T=256, r=1"
    emit(md, f"### b. recur ({threads(a.recur_threads)}) vs PyTorch {run_torch_version(a.out)} (best of "
             f"{threads(a.torch_threads)}), {bs}; train = full step with Muon + AdamW unless 'fwd + bwd only'\n")
    emit(md, table(["case", "precision", "recur tok/s", "torch tok/s", "recur / torch", "recur model GFLOP/s",
                    "peak beside GFLOP/s", "recur util", "torch model GFLOP/s", "torch util", "torch threads"], rows))
    emit(md, f"\nEach side: the best of {1 if a.quick else a.rounds} alternating runs. util = model GFLOP/s / the "
             "largest oneDNN matmul rate of that precision measured in section a or right before one of the case's "
             f"runs ('peak beside': the best of 2048 x 256 x 704 and 1024^3, {threads(a.recur_threads)}).\n")
    return winners


def run_torch_version(out):
    try:
        for line in open(os.path.join(out, "side.jsonl")):
            j = json.loads(line)
            if "torch" in j:
                return j["torch"]
    except OSError:
        pass
    return ""


def solve3(m, v):
    """Solves the 3x3 system m x = v by Gaussian elimination with partial pivoting."""
    m = [row[:] + [v[i]] for i, row in enumerate(m)]
    for c in range(3):
        p = max(range(c, 3), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        if abs(m[c][c]) < 1e-300:
            return None
        for r in range(3):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][3] / m[i][i] for i in range(3)]


def section_steps(a, run, md):
    """c. recur's seconds per step against (n, k)."""
    log("[c] time per step vs n + k (recur)")
    ms = 0.01 if a.quick else a.min_seconds
    pairs = [(0, 4), (4, 4), (12, 4), (28, 4), (0, 8), (24, 8)]
    if a.quick:
        pairs = [(0, 1), (2, 1), (0, 2), (3, 2)]
    rows, pts = [], []
    for n, k in pairs:
        line = run.recur("steps.jsonl", f"S train n{n} k{k}", "S", "train", n + k, k, "f32", ms)
        if line:
            pts.append((n, k, line["seconds_per_step"]))
        rows.append([n, k, n + k, fmt((line or {}).get("seconds_per_step"), 3), fmt((line or {}).get("peak_rss_mib"), 1),
                     fmt((line or {}).get("tokens_per_s")), (line or {}).get("steps", "-")])
    emit(md, f"### c. recur, model S train (Muon + AdamW, f32, {threads(a.recur_threads)}): time per step vs n + k\n")
    emit(md, table(["n (no grad)", "k (recorded)", "r", "s / step", "peak RSS MiB", "tok/s", "steps timed"], rows))
    if len(pts) >= 3:
        x = [(1.0, n, k) for n, k, _ in pts]
        y = [s for _, _, s in pts]
        ata = [[sum(xi[i] * xi[j] for xi in x) for j in range(3)] for i in range(3)]
        aty = [sum(xi[i] * yi for xi, yi in zip(x, y)) for i in range(3)]
        c = solve3(ata, aty)
        if c:
            res = max(abs(c[0] + c[1] * n + c[2] * k - s) for n, k, s in pts)
            emit(md, f"\nleast squares s = c0 + cn n + ck k: c0 = {c[0]:.3f} s, cn = {c[1]:.4f} s per no-grad "
                     f"iteration, ck = {c[2]:.4f} s per recorded iteration, cn / ck = {c[1] / c[2]:.2f} "
                     f"(largest residual {res:.3f} s)\n")
            with open(os.path.join(a.out, "steps_fit.json"), "w") as f:
                json.dump({"c0": c[0], "cn": c[1], "ck": c[2], "cn_over_ck": c[1] / c[2], "max_residual": res}, f)
    emit(md)


def section_scaling(a, run, md, peak, winners):
    """d. the d x r scaling family."""
    log("[d] scaling")
    ms = 0.01 if a.quick else a.scaling_min_seconds
    ds, rs = ((128, 256), (1, 4)) if a.quick else ((128, 256, 512, 1024), (1, 4, 16, 32))
    rows = []
    for d in ds:
        cfg = os.path.join(CONFIGS, f"scale_d{d}.json")
        for mode in ("train", "fwd"):
            tthreads = a.scaling_torch_threads or winners.get(mode) or a.torch_threads
            for r in rs:
                k = min(r, 4) if mode == "train" else None
                tag = f"d{d} {mode} r{r}" + (f" k{k}" if k is not None else "")
                rl = run.recur("scaling.jsonl", tag, cfg, mode, r, k, "f32", ms, 8, 256)
                tl = run.torch("scaling.jsonl", tag, cfg, mode, r, k, "f32", ms, 8, 256, tthreads)
                rt, tt = (rl or {}).get("tokens_per_s"), (tl or {}).get("tokens_per_s")
                rg = (rl or {}).get("model_gflops")
                tg = tt * rl["model_flops_per_token"] / 1e9 if tt and rl else None
                rows.append([d, mode, r, "-" if k is None else f"{r - k}/{k}", fmt(rt), fmt(rg, 1),
                             fmt(util(rg, peak.get("f32")), 1, " %"), fmt((rl or {}).get("seconds_per_step"), 2),
                             fmt((rl or {}).get("peak_rss_mib")), fmt(tt), fmt(tg, 1),
                             fmt(rt / tt if rt and tt else None, 2, "x"), (tl or {}).get("threads", "-")])
    emit(md, "### d. scaling, vocab 4096, 8 heads, 4 kv heads, ffn 2.75 d, layers (2, 2, 2), B=8 T=256, f32; "
             "train = full step with Muon + AdamW, k = r up to r = 4, then k = 4 (n = r - 4 without gradient)\n")
    emit(md, table(["d", "mode", "r", "n/k", "recur tok/s", "recur model GFLOP/s", "recur util", "recur s/step",
                    "recur peak RSS MiB", "torch tok/s", "torch model GFLOP/s", "recur / torch", "torch threads"], rows))
    emit(md, f"\nrecur at {threads(a.recur_threads)}; PyTorch at the thread count that won model S in section b for "
             "the same mode (f32). At least one timed step after one warm-up step on both sides.\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--recur", required=True, help="the recur CLI binary")
    ap.add_argument("--bench-ops", required=True, help="the bench_ops binary")
    ap.add_argument("--python", default="/usr/bin/python3", help="a python3 with torch, for the peer")
    ap.add_argument("--quick", action="store_true", help="a tiny subset, single steps (smoke test)")
    ap.add_argument("--recur-threads", type=int, default=2)
    ap.add_argument("--torch-threads", default="1,2")
    ap.add_argument("--scaling-torch-threads", default="", help="PyTorch's threads in d (default: b's winner)")
    ap.add_argument("--min-seconds", type=float, default=3.0, help="b and c: measure each case this long")
    ap.add_argument("--scaling-min-seconds", type=float, default=1.0, help="d: measure each case this long")
    ap.add_argument("--sections", default="abcd")
    ap.add_argument("--rounds", type=int, default=2, help="b: alternating runs per side and case (the best is kept)")
    a = ap.parse_args()
    if a.quick:
        a.torch_threads = "1"
    os.makedirs(a.out, exist_ok=True)
    for f in ("side.jsonl", "steps.jsonl", "scaling.jsonl", "tables.md"):
        if os.path.exists(os.path.join(a.out, f)):
            os.remove(os.path.join(a.out, f))
    md = os.path.join(a.out, "tables.md")
    run = Runner(a)
    start = time.time()
    emit(md, f"## run_model.sh{' --quick' if a.quick else ''}, {time.strftime('%Y-%m-%d %H:%M')}, "
             f"load average {os.getloadavg()[0]:.2f} at start\n")
    peak = section_peak(a, run, md) if "a" in a.sections else {}
    winners = section_side(a, run, md, peak) if "b" in a.sections else {}
    if "c" in a.sections:
        section_steps(a, run, md)
    if "d" in a.sections:
        section_scaling(a, run, md, peak, winners)
    emit(md, f"(total {time.time() - start:.0f} s, load average {os.getloadavg()[0]:.2f} at the end; JSON lines "
             f"in {a.out})")


if __name__ == "__main__":
    main()
