"""`edgewise bench` on the shared real datasets, several quantizations side by side.

One `edgewise bench` run per dataset (each model in its own worker process, one at a time),
with the quantizations given by ``--models``; each run writes its JSON and self-contained HTML
report into ``--out`` and prints its table. The datasets (not shipped; ../shared/datasets):

  spamassassin  classify ham/spam, text = subject + body, body budget 256 tokens
  banking77     classify 77 intents (dev file)
  snips         classify 7 intents (validate file, gold field ``intent``)
  sroie         extract {company, date, address, total} from receipt OCR text (384 tokens)
  dialogsum     summarize dialogues (tldr, short), ROUGE-L against the reference

Items are taken evenly through each file (every k-th line) so the label mix is kept.

    python benchmarks/bench_datasets.py [--models smollm2-135m@Q4_1,smollm2-135m@Q4_0]
        [--n 100] [--only spamassassin,banking77,...] [--threads 2] [--out bench-out]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SROIE_SCHEMA = {
    "type": "object",
    "properties": {
        "company": {"type": ["string", "null"], "maxLength": 64},
        "date": {"type": ["string", "null"], "maxLength": 24},
        "address": {"type": ["string", "null"], "maxLength": 128},
        "total": {"type": ["string", "null"], "maxLength": 16},
    },
    "required": ["company", "date", "address", "total"],
}

# name -> (file, task, extra `edgewise bench` arguments, default share of items)
DATASETS: dict[str, tuple[str, str, list[str], float]] = {
    "spamassassin": (
        "spamassassin/dev.jsonl",
        "classify",
        ["--text-field", "Subject: {subject}\n\n{body}", "--max-input-tokens", "256"],
        1.0,
    ),
    "banking77": ("banking77/dev.jsonl", "classify", [], 1.0),
    "snips": ("snips/validate.jsonl", "classify", ["--gold-field", "intent"], 1.0),
    "sroie": (
        "sroie/dev.jsonl",
        "extract",
        ["--text-field", "ocr_text", "--max-input-tokens", "384"],
        0.25,
    ),
    "dialogsum": (
        "dialogsum/dev.jsonl",
        "summarize",
        ["--text-field", "dialogue", "--type", "tldr", "--length", "short"],
        0.25,
    ),
}


def every_kth(src: Path, n: int, dst: Path) -> int:
    lines = [line for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    step = max(1, len(lines) // n)
    picked = lines[::step][:n]
    dst.write_text("\n".join(picked) + "\n", encoding="utf-8")
    return len(picked)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="smollm2-135m@Q4_1,smollm2-135m@Q4_0,smollm2-135m@IQ4_NL")
    p.add_argument("--n", type=int, default=100, help="items per classification dataset")
    p.add_argument("--only", default=",".join(DATASETS))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--out", type=Path, default=Path("bench-out"))
    args = p.parse_args()
    if not args.datasets.is_dir():
        sys.exit(f"{args.datasets} not found: pass --datasets DIR (the shared datasets folder)")
    args.out.mkdir(parents=True, exist_ok=True)
    summary: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        schema = Path(tmp) / "sroie.schema.json"
        schema.write_text(json.dumps(SROIE_SCHEMA))
        for name in args.only.split(","):
            file, task, extra, share = DATASETS[name]
            data = Path(tmp) / f"{name}.jsonl"
            n = every_kth(args.datasets / file, max(1, int(args.n * share)), data)
            cmd = [
                sys.executable,
                "-m",
                "edgewise",
                "bench",
                "--models",
                args.models,
                "--task",
                task,
                "--data",
                str(data),
                # the synthetic pp512/tg128 measurement once, with the first dataset
                "--pp",
                "512" if not summary else "0",
                "--tg",
                "128" if not summary else "0",
                "--json",
                str(args.out / f"{name}.json"),
                "--html",
                str(args.out / f"{name}.html"),
                *extra,
            ]
            if task == "extract":
                cmd += ["--schema", str(schema)]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            print(f"\n== {name}: {task}, {n} items", flush=True)
            proc = subprocess.run(cmd, text=True, capture_output=True)
            print(proc.stdout, end="")
            if proc.returncode not in (0, 3):
                print(proc.stderr, file=sys.stderr)
                summary.append(f"{name}: failed (exit {proc.returncode})")
            else:
                summary.append(f"{name}: {args.out / (name + '.html')}")
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
