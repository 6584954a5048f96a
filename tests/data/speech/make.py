"""Render the speech the audio tests transcribe, so that running the tests needs no espeak-ng.

Run from anywhere, in the test venv, on a machine with espeak-ng (apt-get install espeak-ng):

    python tests/data/speech/make.py

It imports the test modules anywhere under tests/model that use the speech helper
(tests/model/speech.py), renders every module-level ``Script`` (alone or in a dict, list or
tuple) that has no WAV here yet (``--force`` renders them all again), deletes the WAVs that no
script names any more, and prints the total size; then commit this folder.

The files are espeak-ng's own output (22050 Hz mono 16-bit PCM), not resampled: edgewise's
decoder resamples any rate to 16 kHz as it reads, so the tests get exactly the audio they got
when espeak-ng ran at test time, for about 1.4x the size of a 16 kHz copy.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))  # tests/model is the package ``model``, as pytest imports it

from model.speech import Script  # noqa: E402


def _scripts_in(value: object) -> list[Script]:
    if isinstance(value, Script):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, Script)]
    return []


def scripts() -> dict[str, Script]:
    """Every module-level Script of the test modules that use the speech helper, by file name."""
    found: dict[str, Script] = {}
    for path in sorted((TESTS / "model").rglob("test_*.py")):  # in every area's folder
        if "speech import" not in path.read_text(encoding="utf-8"):
            continue
        name = ".".join(path.relative_to(TESTS).with_suffix("").parts)  # model.audio.test_voice
        module = importlib.import_module(name)
        for value in vars(module).values():
            found.update((s.filename, s) for s in _scripts_in(value))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="render every script again")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed: apt-get install espeak-ng")
    here = Path(__file__).resolve().parent
    wanted = scripts()
    for name, script in sorted(wanted.items()):
        if args.force or not (here / name).exists():
            script.render(here / name)
            print(f"rendered {name}")
    for path in sorted(here.glob("*.wav")):
        if path.name not in wanted:
            path.unlink()
            print(f"deleted {path.name} (no script names it)")
    total = sum((here / name).stat().st_size for name in wanted)
    print(f"{len(wanted)} files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
