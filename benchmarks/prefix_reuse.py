"""Per-call latency with a ~650-token shared prefix and a ~20-token suffix.

Compares edgewise (KV-cache rewind, several warm prefixes) with
  - re-evaluating the whole prompt every call (target: edgewise >= 20x faster),
  - llama-cpp-python's own reuse of a prefix shared with the previous call (target: no slower),
  - two prefixes used in alternation, as a server sees them: edgewise keeps both warm,
    llama-cpp-python's single cache re-evaluates each time.

    python benchmarks/prefix_reuse.py [--model smollm2-135m] [--repeats 8]
"""

from __future__ import annotations

from _common import median, parser, plain_llama, timed

import edgewise
from edgewise.config import physical_cores
from edgewise.resolver import resolve

SYSTEM = (
    "You are the triage assistant of a small company's shared inbox. Read each message and "
    "decide whether it is urgent, a task that asks for an action, an ignorable "
    "notification, or something that needs a person's judgment. "
)
RULES = "Rule {i}: messages from the finance team about invoices due within a week are urgent. "
QUESTIONS = [
    "Is the server down again?",
    "Please send me the Q3 report.",
    "Your parcel has shipped.",
    "Can we talk about my contract?",
]


def build_prefix(engine: edgewise.Engine, header: str, target: int = 650) -> str:
    text = header + SYSTEM
    i = 0
    while engine.count_tokens(text) < target:
        text += RULES.format(i=i)
        i += 1
    return text + "\n"


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    args.repeats = max(args.repeats, 4)
    threads = args.threads or physical_cores()
    engine = edgewise.load(args.model, threads=threads)
    plain = plain_llama(str(resolve(args.model).path), threads)
    pa = build_prefix(engine, "Inbox A. ")
    pb = build_prefix(engine, "Inbox B. ")
    suffixes = [
        f"Message {i}: {QUESTIONS[i % 4]} Reply with one word.\nAnswer:"
        for i in range(args.repeats)
    ]
    opts = {"max_tokens": 1, "temperature": 0}
    n_prefix = engine.count_tokens(pa)
    n_suffix = engine.count_tokens(suffixes[0])

    def ew(prefix: str, suffix: str) -> float:
        return timed(lambda: engine.generate(prefix + suffix, opts))[0]

    def lcp(prefix: str, suffix: str, reset: bool = False) -> float:
        def call() -> None:
            if reset:
                plain.reset()  # forget the cache: the whole prompt is evaluated again
            plain.create_completion(prefix + suffix, max_tokens=1, temperature=0)

        return timed(call)[0]

    ew(pa, "warm-up"), lcp(pa, "warm-up")
    full, ours, theirs = [], [], []
    for s in suffixes:  # one prefix, consecutive calls
        ours.append(ew(pa, s))
        theirs.append(lcp(pa, s))
        full.append(lcp(pa, s, reset=True))
        plain.create_completion(pa + "warm", max_tokens=1, temperature=0)  # re-warm its cache
    alt_ours, alt_theirs = [], []
    ew(pb, "warm-up")
    for s in suffixes:  # two prefixes in alternation
        alt_ours += [ew(pa, s), ew(pb, s)]
        alt_theirs += [lcp(pa, s), lcp(pb, s)]
    ms = lambda xs: median(xs) * 1000  # noqa: E731
    print(
        f"model {engine.name}, threads {threads}, prefix {n_prefix} tokens, suffix ~{n_suffix} tokens, "
        f"{len(suffixes)} calls per case (median ms per call)"
    )
    print(f"edgewise, shared prefix                {ms(ours):8.1f} ms")
    print(
        f"re-evaluate whole prompt               {ms(full):8.1f} ms   edgewise is {median(full) / median(ours):5.1f}x faster"
    )
    print(
        f"llama-cpp-python prefix reuse          {ms(theirs):8.1f} ms   ratio (theirs/ours) {median(theirs) / median(ours):5.2f}"
    )
    print(f"two prefixes alternating: edgewise     {ms(alt_ours):8.1f} ms")
    print(
        f"two prefixes alternating: llama-cpp    {ms(alt_theirs):8.1f} ms   edgewise is {median(alt_theirs) / median(alt_ours):5.1f}x faster"
    )


if __name__ == "__main__":
    main()
