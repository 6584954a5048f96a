"""Classification that learns from the user's corrections.

``PersonalClassifier`` combines three things for each text:

1. The model's calibrated label probabilities ``p_model`` (``tasks.classify.Classifier``), with
   the user's most similar past corrections placed in the prompt as few-shot examples.
2. Nearest-neighbour evidence from the corrections. Similarity mixes the MiniLM sentence vector
   (cosine) with character 2-5-gram TF-IDF (weight ``CHAR_WEIGHT``), which carries the signal
   outside English. Every label that has no correction yet gets one "phantom" neighbour at
   similarity ``PHANTOM``: a text whose nearest correction is less similar than that is
   treated as unseen, and the model's opinion decides; a near-duplicate of a correction is
   decided by the correction. Scores are a softmax kernel over the ``K`` nearest corrections.
3. A linear (softmax-regression) head trained on the corrections' vectors, which generalizes
   better than neighbours once a label has a few examples (measured: +3 points on banking77
   at 10 per intent). It shares the probability that the text belongs to a corrected label
   with the kNN evidence.

Examples in the prompt help only when they are right. The corrections earn that trust by
predicting their own labels: their leave-one-out kNN accuracy (each of the latest
``LOO_SAMPLE`` corrections classified by the others) must be at least the model's accuracy on
the same user's corrections. Until then (few corrections, or labels the user has taught only
once or twice) the model gets no examples and no shortlist: every text is scored with the plain
prompt, batched, and the corrections act only through the product below. Measured on banking77
with 10 corrections (10 of 77 intents): examples from the nearest, wrong-label corrections
halved the model's accuracy on the texts they were given to (0.24 to 0.13), because a 135M
model copies the label of its examples.

The combination is a product, ``p ∝ p_corrections · p_model^w``: with no corrections
it is exactly ``p_model`` (plain classify); labels without corrections keep the model's
ranking; corrected labels move with the evidence. The weight ``w`` is ``MODEL_WEIGHT`` scaled
by how much better than chance the model labels the user's own recent corrections (up to
``RELIABILITY_SAMPLE`` of them, scored once per classifier with the plain batched prompt; with
fewer than ``RELIABILITY_MIN`` the weight stays full), and by the share the corrections get
wrong (one minus their chance-corrected leave-one-out accuracy): the model can only add
something on the texts the corrections would miss. Measured on banking77 with 770
corrections (83% leave-one-out), the model at the unscaled weight 0.09 cost 3 points against
the corrections alone. A weight under ``MIN_WEIGHT`` is 0, and a model at weight 0 (also
SmolLM2-135M on German intents: no better than chance there) is not run at all; a small
positive weight still orders the labels that have no corrections by the model. When the corrections alone are decisive
(top probability ``>= DECISIVE``) the model is not run for that text, which keeps a well-taught
profile fast. A text less similar than ``PHANTOM`` to every correction gets no examples: it
is scored with the plain prompt, batched with the others like that, and decided by the model
alone, exactly as with no corrections (unless the model's weight is 0).
With many labels and trusted corrections, a text they narrow down is scored only on its ``SHORTLIST`` most
probable labels (a label costs a pass over its tokens). Corrections whose label is not among
``labels`` are ignored for that call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgewise.engines.base import Engine
from edgewise.errors import InputError
from edgewise.personal.embed import CharNgrams, Embedder, default_embedder
from edgewise.personal.profile import Profile, open_profile
from edgewise.personal.records import MAX_TEXT_CHARS, Feedback
from edgewise.tasks import text_list
from edgewise.tasks.classify import Classification, Classifier, Example, Progress
from edgewise.tasks.classify import classify as _classify
from edgewise.tasks.classify import classify_many as _classify_many

CHAR_WEIGHT = 0.3  # share of the character n-gram similarity in the mix
PHANTOM = 0.35  # similarity of the stand-in neighbour of a label without corrections
TEMPERATURE = 0.05  # kNN kernel: 0.05 of similarity = a factor e in evidence
K = 10
MODEL_WEIGHT = 0.5  # exponent of the model's probabilities once there are corrections
# below this exponent a 100:1 model preference moves the odds by under 10%: the model is not run
MIN_WEIGHT = 0.02
RELIABILITY_SAMPLE = 16
RELIABILITY_MIN = 8  # fewer corrections than this: the model keeps its full weight
LOO_SAMPLE = 200  # latest corrections whose leave-one-out accuracy decides the trust
DECISIVE = 0.9
SHOTS = 3
SHORTLIST = 10
HEAD_STEPS = 200


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class _Head:
    """Softmax regression on the corrections' vectors (numpy, full-batch gradient descent)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, classes: int) -> None:
        self.scale = 5.0  # unit vectors: sharpen the logits so few steps suffice
        x = x * self.scale
        self.w = np.zeros((x.shape[1], classes), dtype=np.float32)
        self.b = np.zeros(classes, dtype=np.float32)
        onehot = np.eye(classes, dtype=np.float32)[y]
        for _ in range(HEAD_STEPS):
            grad = _softmax(x @ self.w + self.b) - onehot
            self.w -= 0.5 * (x.T @ grad / len(x) + 1e-3 * self.w)
            self.b -= 0.5 * grad.mean(0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return _softmax((x * self.scale) @ self.w + self.b)


class PersonalClassifier:
    """A Classifier for one label set that also learns from a profile's corrections."""

    def __init__(
        self,
        engine: Engine,
        labels: Sequence[str],
        profile: Profile | str,
        *,
        embedder: Embedder | None = None,
        use_model: bool = True,
        **options: Any,
    ) -> None:
        if options.get("multi_label"):
            raise InputError("classify with a profile is single-label (multi_label=False)")
        if options.get("examples"):
            raise InputError("classify with a profile takes its examples from the corrections")
        self.profile = open_profile(profile)
        self.base = Classifier(engine, labels, **options)
        self.labels = self.base.labels
        self.options = options
        self.use_model = use_model
        allowed = self.profile.labels
        if allowed is not None and set(self.labels) - set(allowed):
            raise InputError(
                f"labels {sorted(set(self.labels) - set(allowed))} are not in the label set of profile "
                f"{self.profile.name!r}: {', '.join(allowed)}"
            )
        self.corrections: list[Feedback] = self.profile.feedback(self.labels)
        self._index = {lab: i for i, lab in enumerate(self.labels)}
        self._y = np.array([self._index[f.label] for f in self.corrections], dtype=np.int64)
        self.embedder = embedder
        self._weight: float | None = None
        self._model_accuracy: float | None = None
        self._loo: float | None = None
        if self.corrections:
            self.embedder = embedder or default_embedder()
            texts = [f.text for f in self.corrections]
            self._vectors = self.profile.embeddings(texts, self.embedder)
            self._chars = CharNgrams(texts)
            covered = sorted(set(self._y.tolist()))
            self._covered = np.array(covered, dtype=np.int64)
            self._head = (
                _Head(self._vectors, np.searchsorted(self._covered, self._y), len(covered))
                if len(covered) > 1
                else None
            )

    # ------------------------------------------------------------------ evidence
    def evidence(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Label probabilities from the corrections alone, each text's nearest corrections
        (indices) and their similarities."""
        n, m = len(texts), len(self.labels)
        # the texts being classified are not cached: the profile keeps what the user gave it
        assert self.embedder is not None  # set whenever there are corrections
        vecs = self.embedder.embed(list(texts))
        sims = self._similarities(vecs, texts)
        k = min(K, sims.shape[1])
        top = np.argsort(-sims, axis=1)[:, :k]
        uncovered = np.ones(m, dtype=bool)
        uncovered[self._covered] = False
        out = np.zeros((n, m))
        head = self._head(vecs) if self._head is not None else None
        for row in range(n):
            knn = self._kernel(sims[row, top[row]], self._y[top[row]], uncovered)
            if head is not None:
                inside = knn[self._covered].sum()
                share = knn[self._covered] / max(inside, 1e-12)
                knn[self._covered] = inside * 0.5 * (share + head[row])
            out[row] = knn
        return out, top, np.take_along_axis(sims, top, axis=1)

    def _similarities(self, vecs: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Similarity of each text (with its MiniLM vector) to every correction."""
        sims = (1 - CHAR_WEIGHT) * (vecs @ self._vectors.T)
        return sims + CHAR_WEIGHT * np.stack([self._chars.similarities(t) for t in texts])

    def _kernel(self, sims: np.ndarray, labels: np.ndarray, uncovered: np.ndarray) -> np.ndarray:
        """kNN label probabilities from the nearest corrections' similarities (descending) and
        labels; each label in ``uncovered`` gets one phantom neighbour at ``PHANTOM``."""
        ref = max(float(sims[0]), PHANTOM) if len(sims) else PHANTOM
        knn = np.zeros(len(self.labels))
        np.add.at(knn, labels, np.exp((sims - ref) / TEMPERATURE))
        knn[uncovered] = np.exp((PHANTOM - ref) / TEMPERATURE)
        return knn / knn.sum()

    def self_accuracy(self) -> float:
        """Leave-one-out kNN accuracy of the corrections: each of the latest ``LOO_SAMPLE`` is
        classified by all the others (copies of its own text left out too)."""
        if self._loo is None:
            n, m = len(self.corrections), len(self.labels)
            rows = list(range(max(0, n - LOO_SAMPLE), n))
            texts = [self.corrections[i].text for i in rows]
            sims = self._similarities(self._vectors[rows], texts)
            where: dict[str, list[int]] = {}
            for i, f in enumerate(self.corrections):
                where.setdefault(f.text, []).append(i)
            counts = np.bincount(self._y, minlength=m)
            right = 0
            for r, i in enumerate(rows):
                row = sims[r].copy()
                row[where[texts[r]]] = -np.inf
                k = min(K, n - len(where[texts[r]]))
                left = counts.copy()
                np.subtract.at(left, self._y[where[texts[r]]], 1)
                top = np.argsort(-row)[:k]
                probs = self._kernel(row[top], self._y[top], left <= 0)
                right += int(probs.argmax() == self._y[i])
            self._loo = right / len(rows)
        return self._loo

    def trusted(self) -> bool:
        """Whether the corrections go into the prompt as examples (see the module doc)."""
        if len(self.corrections) < RELIABILITY_MIN:
            return False
        return self.self_accuracy() >= (self.model_accuracy() or 0.0)

    # ------------------------------------------------------------------ classify
    def classify_many(
        self, texts: Sequence[str], *, progress: Progress | None = None
    ) -> list[Classification]:
        """Classify texts with the corrections' evidence (see the module docstring)."""
        texts = text_list(texts, "classify_many")
        if not self.corrections:
            return self.base.classify_many(texts, progress=progress)
        results: list[Classification] = [Classification(label=None) for _ in texts]
        good = []
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                results[i].error = "empty text"
            elif len(t) > MAX_TEXT_CHARS:
                results[i].error = f"text is {len(t):,} characters; the limit is {MAX_TEXT_CHARS:,}"
            else:
                good.append(i)
        if not good:
            return results
        evidence, neighbours, top_sims = self.evidence([texts[i] for i in good])
        asks = [j for j in range(len(good)) if self.use_model and evidence[j].max() < DECISIVE]
        if asks:
            self.base.prepare([texts[i] for i in good])
            if self.model_weight() == 0.0:
                asks = []  # the model is no better than chance on this user's corrections
        # A text unlike every correction gets no examples: the model sees the plain prompt, and
        # those texts are scored together with the cached prefix (as plain classify does). So
        # does every text while the corrections are not trusted as examples.
        trusted = bool(asks) and self.trusted()
        novel_set = {j for j in asks if top_sims[j, 0] < PHANTOM}
        batched = [j for j in asks if j in novel_set or not trusted]
        plain = self.base.classify_many([texts[good[j]] for j in batched]) if batched else []
        model_out: dict[int, tuple[Classification, np.ndarray | None]] = {
            j: (res, None) for j, res in zip(batched, plain)
        }
        for done, (j, i) in enumerate(zip(range(len(good)), good), 1):
            probs = evidence[j]
            result = results[i]
            if j in asks:
                if j in model_out:
                    model, shortlist = model_out[j]
                else:
                    shortlist = self._shortlist(probs)
                    model = self._model(texts[i], neighbours[j], top_sims[j], shortlist)
                if model.error:
                    result.error = model.error
                    continue
                factor = np.zeros(len(self.labels))
                for lab, p in model.scores.items():
                    factor[self._index[lab]] = np.power(max(p, 1e-12), self.model_weight())
                if shortlist is not None:
                    # labels the model did not score rank as if it gave them its lowest score
                    rest = np.ones(len(self.labels), dtype=bool)
                    rest[shortlist] = False
                    factor[rest] = factor[shortlist].min()
                if j in novel_set:
                    # nothing in the corrections is like this text: the model alone decides,
                    # so such texts are classified exactly as with no corrections
                    probs = np.array([model.scores[lab] for lab in self.labels])
                else:
                    probs = probs * factor
                probs = probs / probs.sum()
                result.input_tokens, result.truncated, result.ms = (
                    model.input_tokens,
                    model.truncated,
                    model.ms,
                )
            self.base._decide([float(p) for p in probs], result)
            if progress is not None:
                progress(done, len(good))
        return results

    def classify(self, text: str) -> Classification:
        result = self.classify_many([text])[0]
        if result.error:
            raise InputError(result.error)
        return result

    def model_weight(self) -> float:
        """The exponent of the model's probabilities for this profile (see the module doc)."""
        if self._weight is None:
            accuracy = self.model_accuracy()
            if accuracy is None:
                self._weight = MODEL_WEIGHT  # too few corrections to judge the model
            else:
                # what the model can add is on the texts the corrections get wrong
                weight = MODEL_WEIGHT * self._skill(accuracy)
                weight *= 1.0 - self._skill(self.self_accuracy())
                self._weight = weight if weight >= MIN_WEIGHT else 0.0
        return self._weight

    def model_accuracy(self) -> float | None:
        """The model's accuracy (plain prompt) on the latest ``RELIABILITY_SAMPLE``
        corrections; None with fewer than ``RELIABILITY_MIN``."""
        sample = self.corrections[-RELIABILITY_SAMPLE:]
        if self._model_accuracy is None and len(sample) >= RELIABILITY_MIN:
            res = self.base.classify_many([f.text for f in sample])
            right = sum(r.label == f.label for r, f in zip(res, sample))
            self._model_accuracy = right / len(sample)
        return self._model_accuracy

    def _skill(self, accuracy: float) -> float:
        """Accuracy rescaled so that chance over this label set is 0 and perfect is 1."""
        chance = 1.0 / len(self.labels)
        return min(1.0, max(0.0, (accuracy - chance) / (1.0 - chance)))

    def _shortlist(self, probs: np.ndarray) -> np.ndarray | None:
        """Labels the model scores: all of them while the text looks unlike every correction
        (or the label set is small), else the ``SHORTLIST`` most probable ones.

        Scoring a label costs a pass over its tokens; 77 labels cost about as much as a
        prompt of 600 tokens per text, so a text the corrections already narrow down is
        scored only on the candidates they leave.
        """
        if len(self.labels) <= SHORTLIST:
            return None
        uncovered = np.ones(len(self.labels), dtype=bool)
        uncovered[self._covered] = False
        if probs[uncovered].sum() >= 0.5:
            return None
        return np.sort(np.argsort(-probs)[:SHORTLIST])

    def _model(
        self, text: str, neighbours: np.ndarray, sims: np.ndarray, shortlist: np.ndarray | None
    ) -> Classification:
        """The model's probabilities with the nearest corrections as few-shot examples.

        The prompt always lists every label (so its prefix stays cached across texts); with a
        shortlist only those labels' continuations are scored.
        """
        shots: list[Example] = []
        seen: set[str] = set()
        for idx, sim in zip(neighbours, sims):
            if sim < PHANTOM:
                break
            fb = self.corrections[int(idx)]
            if fb.text not in seen:
                seen.add(fb.text)
                shots.append(Example(text=fb.text, label=fb.label))
            if len(shots) == SHOTS:
                break
        shots.reverse()  # the most similar example last, nearest to the text
        clf = Classifier(self.base.engine, self.labels, examples=shots, **self.options)
        prior = self.base._prior  # calibrated against the same label prior, computed once
        if shortlist is not None:
            keep = [int(k) for k in shortlist]
            clf.labels = [self.labels[k] for k in keep]
            clf._conts = [clf._conts[k] for k in keep]
            if prior is not None:
                total = sum(prior[k] for k in keep)
                prior = [prior[k] / total for k in keep]
        clf._prior = prior
        return clf.classify_many([text])[0]


def classify(
    text: str,
    labels: Sequence[str],
    *,
    engine: Engine | None = None,
    descriptions: Mapping[str, str] | None = None,
    examples: Sequence[Example | Mapping[str, Any] | tuple[str, str]] | None = None,
    multi_label: bool = False,
    threshold: float | None = None,
    max_input_tokens: int | None = None,
    calibrate: bool = True,
    calibration: str = "domain",
    profile: Profile | str | None = None,
) -> Classification:
    """Classify ``text`` into ``labels`` (``edgewise.classify``; see ``Classifier``).

    With ``profile`` (a ``Profile`` or its name) the user's past corrections add their
    evidence and serve as few-shot examples (``PersonalClassifier``); without one this is
    ``edgewise.tasks.classify.classify``. It lives here, above tasks, so that tasks never
    import personal.
    """
    options: dict[str, Any] = dict(
        descriptions=descriptions,
        multi_label=multi_label,
        threshold=threshold,
        max_input_tokens=max_input_tokens,
        calibrate=calibrate,
        calibration=calibration,
    )
    if profile is None:
        return _classify(text, labels, engine=engine, examples=examples, **options)
    from edgewise.tasks import default_engine

    if examples:  # refused with a one-line error: the corrections are the examples
        options["examples"] = examples
    return PersonalClassifier(engine or default_engine(), labels, profile, **options).classify(text)


def classify_many(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    engine: Engine | None = None,
    descriptions: Mapping[str, str] | None = None,
    examples: Sequence[Example | Mapping[str, Any] | tuple[str, str]] | None = None,
    multi_label: bool = False,
    threshold: float | None = None,
    max_input_tokens: int | None = None,
    calibrate: bool = True,
    calibration: str = "domain",
    progress: Progress | None = None,
    profile: Profile | str | None = None,
) -> list[Classification]:
    """Classify many texts, evaluating the shared prompt prefix once
    (``edgewise.classify_many``; ``profile``: see ``classify``)."""
    options: dict[str, Any] = dict(
        descriptions=descriptions,
        multi_label=multi_label,
        threshold=threshold,
        max_input_tokens=max_input_tokens,
        calibrate=calibrate,
        calibration=calibration,
    )
    if profile is None:
        return _classify_many(
            texts, labels, engine=engine, examples=examples, progress=progress, **options
        )
    from edgewise.tasks import default_engine

    if examples:
        options["examples"] = examples
    return PersonalClassifier(engine or default_engine(), labels, profile, **options).classify_many(
        texts, progress=progress
    )
