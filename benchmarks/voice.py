"""Speech to text on the device: real-time factor and word error rate, edgewise vs plain
faster-whisper on the same model, threads and beam size.

The notes are spoken by espeak-ng at run time from known scripts (English and Spanish), so the
word error rate is measured against the exact text. For each model (tiny.en, base):

- edgewise: ``Transcriber(model, language=..., threads=N).transcribe(path)`` (pieces cut at
  pauses, Silero VAD, hallucination guard);
- plain faster-whisper: ``WhisperModel(folder, compute_type="int8", cpu_threads=N)
  .transcribe(path, vad_filter=True)``, the segments consumed.

Real-time factor = processing seconds / audio seconds (median of --repeats, after one warm-up
run; model loading excluded). Target: <= 0.15 for tiny.en on 2 threads.

Action items: edgewise's per-sentence grounded extraction vs one extract call per note (all
items with ISO dates asked of the model), on written English and Spanish notes with known tasks;
precision, recall, and how often who and when are right.

``--memory`` adds peak RSS (VmHWM of a fresh process) for 1 and 10 minutes of continuous speech
(the English sentences cycled), edgewise vs plain faster-whisper, which decodes the whole file
and runs VAD and features over all of it. That part transcribes 22 minutes of audio twice:
several minutes.

    python benchmarks/voice.py [--threads 2] [--repeats 3] [--memory]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import wave
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np

from edgewise.audio.decode import decode
from edgewise.audio.metrics import word_error_rate
from edgewise.audio.models import load, resolve
from edgewise.audio.transcribe import Transcriber

NOTES = {
    "en": (
        "en-us",
        "Hi team, this is a quick note after the planning meeting. "
        "Maria will send the budget report to the finance team by Friday. "
        "John needs to book a meeting room for the product review. "
        "Please remember to update the customer list before the end of the month.",
    ),
    "es": (
        "es",
        "Hola equipo, esta es una nota rápida después de la reunión. "
        "Carlos tiene que enviar el informe de ventas el lunes. "
        "Laura debe llamar al cliente mañana. "
        "No olvides revisar el presupuesto antes del viernes.",
    ),
}
# distinct sentences for the long recordings (repeating one note would look like a loop)
LONG_SENTENCES = [
    "The quarterly numbers came in higher than we expected.",
    "Our support team answered more tickets this week than last month.",
    "Please check the shipping dates for the new batch of orders.",
    "The design review moved to Thursday afternoon at three.",
    "We still need a volunteer to write the release notes.",
    "The office will be closed on the first Monday of next month.",
    "Sarah found a bug in the login page that only happens on phones.",
    "The new printer on the second floor is finally working.",
    "Let us keep the budget discussion short and focus on hiring.",
    "Remember that the client visit starts with a tour of the lab.",
    "The marketing plan needs a clear goal for each quarter.",
    "Tom will share the slides after the meeting today.",
]
MB = 1024 * 1024

# Action items: written notes with the tasks they state (a key phrase of the task, who, when;
# dates relative to Saturday 2026-11-28). Non-task sentences test precision.
REFERENCE = date(2026, 11, 28)
ACTION_NOTES: list[tuple[str, str, list[tuple[str, str | None, str | None]]]] = [
    (
        "en",
        "Quick update from the site visit. Maria will send the budget report by Friday. "
        "The weather was terrible all morning. John needs to book a meeting room for the "
        "product review. Please remember to update the customer list before the end of the month.",
        [
            ("budget report", "Maria", "2026-12-04"),
            ("meeting room", "John", None),
            ("customer list", None, "2026-11-30"),
        ],
    ),
    (
        "en",
        "Thanks everyone for joining the call. Peter has to renew the software licenses "
        "tomorrow. We talked about the new office layout. Can you send the slides to Anna? "
        "Sarah should fix the login bug next week.",
        [
            ("software licenses", "Peter", "2026-11-29"),
            ("slides", None, None),
            ("login bug", "Sarah", "2026-11-30"),
        ],
    ),
    (
        "en",
        "The client liked the demo a lot. Tom will prepare the contract on December 3rd. "
        "Don't forget to order lunch for the workshop. Our sales grew ten percent this quarter.",
        [("contract", "Tom", "2026-12-03"), ("order lunch", None, None)],
    ),
    (
        "es",
        "Hola a todos, resumen de la reunión de hoy. Carlos tiene que enviar el informe de "
        "ventas el lunes. Laura debe llamar al cliente mañana. El proyecto va bien. "
        "No olvides revisar el presupuesto antes del viernes.",
        [
            ("informe", "Carlos", "2026-11-30"),
            ("llamar al cliente", "Laura", "2026-11-29"),
            ("presupuesto", None, "2026-12-04"),
        ],
    ),
    (
        "es",
        "Buenos días. Pedro necesita reservar el hotel para el congreso. La reunión fue muy "
        "productiva. Por favor, actualiza la lista de precios el 15 de diciembre.",
        [("hotel", "Pedro", None), ("lista de precios", None, "2026-12-15")],
    ),
]
WHOLE_NOTE_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "maxItems": 8,
            "items": {
                "type": "object",
                "properties": {
                    "what": {"type": "string", "maxLength": 120},
                    "who": {"type": ["string", "null"], "maxLength": 40},
                    "when": {"type": ["string", "null"], "format": "date"},
                },
                "required": ["what", "who", "when"],
            },
        }
    },
    "required": ["items"],
}


def speak(text: str, voice: str, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def naive(model_name: str, path: Path, language: str, threads: int, beam: int) -> str:
    whisper = naive_model(model_name, threads)
    segments, _ = whisper.transcribe(str(path), language=language, beam_size=beam, vad_filter=True)
    return " ".join(s.text.strip() for s in segments)


_naive: dict[tuple[str, int], object] = {}


def naive_model(model_name: str, threads: int) -> object:
    from faster_whisper import WhisperModel

    key = (model_name, threads)
    if key not in _naive:
        folder = resolve(model_name).path
        _naive[key] = WhisperModel(
            str(folder), device="cpu", compute_type="int8", cpu_threads=threads
        )
    return _naive[key]


def timed_median(fn: Callable[[], str], repeats: int) -> tuple[float, str]:
    fn()  # warm-up: first-call initialisation
    times, out = [], ""
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


PEAK = textwrap.dedent(
    """
    import sys
    side, model, path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if side == "edgewise":
        from edgewise.audio.transcribe import Transcriber
        text = Transcriber(model, language="en", threads=threads).transcribe(path).text
    else:
        from faster_whisper import WhisperModel
        from edgewise.audio.models import resolve
        m = WhisperModel(str(resolve(model).path), compute_type="int8", cpu_threads=threads)
        segments, _ = m.transcribe(path, language="en", vad_filter=True)
        text = " ".join(s.text for s in segments)
    status = open("/proc/self/status").read()
    print(len(text.split()), int(status.split("VmHWM:")[1].split()[0]) // 1024)
    """
)


def memory(tmp: Path, threads: int, minutes: list[int]) -> None:
    clips = [decode(speak(s, "en-us", tmp / f"s{i}.wav")) for i, s in enumerate(LONG_SENTENCES)]
    pause = np.zeros(8000, dtype=np.float32)
    cycle = np.concatenate([x for c in clips for x in (c, pause)])
    print(f"\npeak RSS (VmHWM, MB), tiny.en, continuous speech, {threads} threads")
    print(f"{'minutes':>8} {'edgewise':>9} {'faster-whisper':>15} {'words e/f':>10}")
    for m in minutes:
        n = m * 60 * 16000
        audio = np.tile(cycle, n // cycle.shape[0] + 1)[:n]
        path = write_wav(tmp / f"long{m}.wav", audio)
        row = []
        for side in ("edgewise", "faster-whisper"):
            out = subprocess.run(
                [sys.executable, "-c", PEAK, side, "tiny.en", str(path), str(threads)],
                capture_output=True,
                text=True,
                check=True,
            )
            row.append([int(x) for x in out.stdout.split()])
        print(f"{m:>8} {row[0][1]:>9} {row[1][1]:>15} {row[0][0]:>5}/{row[1][0]}")
        path.unlink()


def score_items(
    predicted: list[tuple[str, str | None, str | None]],
    gold: list[tuple[str, str | None, str | None]],
) -> tuple[int, int, int, int, int]:
    """(predicted, gold, matched, who right, when right); a match: the key phrase in `what`."""
    from edgewise.text.dates import fold

    matched = who_ok = when_ok = 0
    used: set[int] = set()
    for key, who, when in gold:
        for i, (what, p_who, p_when) in enumerate(predicted):
            if i not in used and fold(key) in fold(what or ""):
                used.add(i)
                matched += 1
                who_ok += fold(p_who or "") == fold(who or "")
                when_ok += (p_when or None) == when
                break
    return len(predicted), len(gold), matched, who_ok, when_ok


def actions(model: str) -> None:
    """Action items: edgewise (per sentence, grounded, dates resolved) vs one extract call per
    note asking the model for all items with ISO dates (the straightforward way)."""
    import edgewise
    from edgewise.audio.actions import sentence_items
    from edgewise.audio.voice_note import _SENTENCE_END
    from edgewise.tasks.extract import Extractor

    engine = edgewise.load(model)
    whole = Extractor(
        engine,
        WHOLE_NOTE_SCHEMA,
        instructions="List the action items of the voice note: what is to be done, who does "
        "it (a name from the note, or null) and when (an ISO date, or null). The note was "
        f"recorded on Saturday {REFERENCE.isoformat()}.",
        max_tokens=400,
    )
    totals = {"edgewise": [0] * 5, "one call per note": [0] * 5}
    seconds = {"edgewise": 0.0, "one call per note": 0.0}
    for lang, text, gold in ACTION_NOTES:
        t = time.perf_counter()
        sentences = [(x, None) for x in _SENTENCE_END.split(text)]
        ours = sentence_items(sentences, language=lang, reference=REFERENCE, engine=engine)
        seconds["edgewise"] += time.perf_counter() - t
        t = time.perf_counter()
        try:
            raw = whole.extract(text)["items"]
        except edgewise.EdgewiseError:
            raw = []
        seconds["one call per note"] += time.perf_counter() - t
        for name, predicted in (
            ("edgewise", [(i.what, i.who, i.when) for i in ours]),
            ("one call per note", [(r["what"], r["who"], r["when"]) for r in raw]),
        ):
            totals[name] = [a + b for a, b in zip(totals[name], score_items(predicted, gold))]
    print(f"\naction items on {len(ACTION_NOTES)} written notes (en, es), {model}")
    print(f"{'method':18} {'precision':>12} {'recall':>10} {'who':>8} {'when':>8} {'seconds':>8}")
    for name, (n_pred, n_gold, matched, who_ok, when_ok) in totals.items():
        print(
            f"{name:18} {matched / max(n_pred, 1):5.2f} {matched:>2}/{n_pred:<3} "
            f"{matched / n_gold:5.2f} {matched:>2}/{n_gold:<2} "
            f"{who_ok / max(matched, 1):5.2f} {who_ok:>2} {when_ok / max(matched, 1):5.2f} "
            f"{when_ok:>2} {seconds[name]:8.1f}"
        )
    print("who/when: share right among the matched items")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--memory", action="store_true", help="also peak RSS for 1 and 10 minutes")
    p.add_argument("--minutes", default="1,10", help="recording lengths for --memory")
    p.add_argument("--llm", default="smollm2-135m", help="language model for the action items")
    p.add_argument("--skip-speech", action="store_true", help="only the action-item comparison")
    p.add_argument("--skip-actions", action="store_true", help="only the speech measurements")
    args = p.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # figures as they come
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_actions:
            actions(args.llm)
        if args.skip_speech:
            return
        notes = {k: speak(text, voice, tmp / f"{k}.wav") for k, (voice, text) in NOTES.items()}
        seconds = {k: decode(path).shape[0] / 16000 for k, path in notes.items()}
        print(
            f"threads {args.threads}, beam {args.beam_size}, median of {args.repeats} "
            f"(after a warm-up); notes: " + ", ".join(f"{k} {s:.1f}s" for k, s in seconds.items())
        )
        print(
            f"{'model':8} {'note':4} {'RTF edgewise':>13} {'RTF faster-whisper':>19} "
            f"{'ratio':>6} {'WER edgewise':>13} {'WER f-w':>8}"
        )
        for model_name, langs in (("tiny.en", ["en"]), ("base", ["en", "es"])):
            load(resolve(model_name), args.threads)
            naive_model(model_name, args.threads)
            for lang in langs:
                transcriber = Transcriber(
                    model_name, language=lang, threads=args.threads, beam_size=args.beam_size
                )
                path = notes[lang]
                ours_s, ours = timed_median(
                    functools.partial(lambda t, x: t.transcribe(x).text, transcriber, path),
                    args.repeats,
                )
                theirs_s, theirs = timed_median(
                    functools.partial(naive, model_name, path, lang, args.threads, args.beam_size),
                    args.repeats,
                )
                script = NOTES[lang][1]
                print(
                    f"{model_name:8} {lang:4} {ours_s / seconds[lang]:13.3f} "
                    f"{theirs_s / seconds[lang]:19.3f} {theirs_s / ours_s:6.2f} "
                    f"{word_error_rate(script, ours):13.3f} {word_error_rate(script, theirs):8.3f}"
                )
        print("ratio = faster-whisper time / edgewise time (> 1: edgewise faster)")
        if args.memory:
            memory(tmp, args.threads, [int(m) for m in args.minutes.split(",")])


if __name__ == "__main__":
    main()
