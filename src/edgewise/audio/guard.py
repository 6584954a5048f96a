"""Guard against made-up text: Whisper can loop ("thank you thank you thank you") or invent a
sentence on silence and noise. A segment is dropped, with its reason kept for the JSON, when

- its no-speech probability is at or above a threshold and its mean token log-probability is
  low (the model thinks nothing was said and is unsure of the words). No-speech probability alone
  is not enough: it is computed once per 30-second window and is often 0.7 over clear speech.
  Whisper's own rule uses -1.0 for the log-probability; this one is stricter (-0.5): on silence
  tiny.en says "You" with no-speech 0.94 and log-probability -0.94, which Whisper keeps;
- it repeats itself: a gzip compression ratio above a threshold (Whisper's own loop signal),
  or the same n-gram many times in a row, or very few distinct words in a long segment;
- it is the previous kept segment again, word for word, right after it (a decoding loop across
  windows; the caller passes ``previous`` only when less than ``LOOP_GAP`` seconds lie between).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)

NO_SPEECH_THRESHOLD = 0.6
LOGPROB_THRESHOLD = -0.5
LOOP_GAP = 1.0  # seconds
COMPRESSION_RATIO_THRESHOLD = 2.4
# n-gram size -> how many times in a row counts as a loop; single words repeat more in speech
# ("no, no, no") than longer phrases do
RUN_LIMITS = {1: 5, 2: 4, 3: 3, 4: 3}


@dataclass(frozen=True)
class Verdict:
    """Why a segment is dropped (``reason`` a short code, ``detail`` the numbers)."""

    reason: str
    detail: str


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def longest_run(tokens: list[str]) -> tuple[int, int, str]:
    """The n-gram (n = 1..4) repeated most often back to back: (n, times, the n-gram)."""
    best = (1, 1 if tokens else 0, tokens[0] if tokens else "")
    for n in RUN_LIMITS:
        for start in range(0, len(tokens) - n + 1):
            gram = tokens[start : start + n]
            times = 1
            i = start + n
            while tokens[i : i + n] == gram:
                times += 1
                i += n
            if times / RUN_LIMITS[n] > best[1] / RUN_LIMITS[best[0]]:
                best = (n, times, " ".join(gram))
    return best


def check(
    text: str,
    *,
    no_speech_prob: float = 0.0,
    avg_logprob: float = 0.0,
    previous: str | None = None,
    no_speech_threshold: float = NO_SPEECH_THRESHOLD,
    logprob_threshold: float = LOGPROB_THRESHOLD,
    compression_ratio_threshold: float = COMPRESSION_RATIO_THRESHOLD,
) -> Verdict | None:
    """None when the segment is kept, else why it is dropped."""
    toks = words(text)
    if not toks:
        return Verdict("empty", "no words")
    if no_speech_prob >= no_speech_threshold and avg_logprob < logprob_threshold:
        return Verdict(
            "no_speech",
            f"no-speech probability {no_speech_prob:.2f} >= {no_speech_threshold} and mean "
            f"log-probability {avg_logprob:.2f} < {logprob_threshold}",
        )
    ratio = compression_ratio(text)
    if ratio > compression_ratio_threshold:
        return Verdict(
            "repetition", f"compression ratio {ratio:.2f} > {compression_ratio_threshold}"
        )
    n, times, gram = longest_run(toks)
    if times >= RUN_LIMITS[n]:
        return Verdict("repetition", f"{gram!r} {times} times in a row")
    if len(toks) >= 12 and len(set(toks)) / len(toks) < 0.3:
        return Verdict("repetition", f"{len(set(toks))} distinct words in {len(toks)}")
    if previous is not None and words(previous) == toks:
        return Verdict("repetition", "the same words as the previous segment")
    return None
