"""Audio routes: OpenAI's ``POST /v1/audio/transcriptions`` and ``POST /v1/voice-note``.

Both take a multipart upload (the body is bounded by the server's ``--max-body`` like any
other: the BodyLimit middleware counts the raw multipart bytes before they are parsed).

The speech model runs on its own worker (``SpeechWorker``, one per app, on
``ServerState.speech``): one transcription at a time, a bounded FIFO and the request deadline,
as for the language models. Transcribers are kept per (model, language) on the worker; the
Whisper weights themselves are loaded once by ``edgewise.audio.models``. A voice note is
transcribed there, then summarized and searched for action items on the language model's
own worker through the pool, so a long transcription never holds the language model.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import JSONResponse, PlainTextResponse, Response

from edgewise.audio.voice_note import VoiceNote, note_from_transcript
from edgewise.errors import InputError, ModelNotFoundError
from edgewise.server.common import disconnect_probe, state
from edgewise.server.errors import QueueFullError, RequestTimeoutError
from edgewise.server.scheduler import LoadedModel, acquire_in_turn
from edgewise.server.settings import ServerSettings

router = APIRouter(tags=["Audio"])
T = TypeVar("T")
UPLOAD = "The recording: wav, mp3, m4a, ogg/opus, flac, webm, ..."
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
# request name -> library model name (None: tiny.en for English, base otherwise)
SPEECH_MODELS: dict[str, str | None] = {
    "whisper-1": None,
    "default": None,
    "tiny.en": "tiny.en",
    "tiny-en": "tiny.en",
    "whisper-tiny.en": "tiny.en",
    "base": "base",
    "whisper-base": "base",
}


def speech_model(name: str | None) -> str | None:
    """The library's speech model for a request's ``model`` (names only, never a path)."""
    key = (name or "whisper-1").strip().lower()
    if key not in SPEECH_MODELS:
        raise ModelNotFoundError(
            name or "",
            ["whisper-1", "tiny.en", "base"],
            hint="whisper-1 means tiny.en for English and base for other languages",
        )
    return SPEECH_MODELS[key]


class SpeechWorker:
    """One speech request at a time on one thread, queued FIFO up to ``max_queue``."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgewise-speech")
        self.lock = asyncio.Lock()
        self.waiting = 0
        self.service_ewma = 5.0
        self.transcribers: OrderedDict[tuple[str | None, str | None], Any] = OrderedDict()

    def transcriber(self, model: str | None, language: str | None) -> Any:
        """A cached ``Transcriber`` (call on the worker thread: it may assemble a model)."""
        from edgewise.audio.transcribe import Transcriber

        key = (model, language)
        if key not in self.transcribers:
            self.transcribers[key] = Transcriber(
                model, language=language, threads=self.settings.threads
            )
            while len(self.transcribers) > 8:
                self.transcribers.popitem(last=False)
        self.transcribers.move_to_end(key)
        return self.transcribers[key]

    async def call(
        self,
        fn: Callable[[], T],
        deadline: float,
        disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> T:
        if self.waiting + (1 if self.lock.locked() else 0) > self.settings.max_queue:
            retry = max(1, round(self.service_ewma * (self.waiting + 1)))
            raise QueueFullError("speech", self.waiting, retry)
        self.waiting += 1
        try:
            await acquire_in_turn(self.lock, deadline, self.settings.timeout, disconnected)
        finally:
            self.waiting -= 1
        started = time.monotonic()

        def release(_f: Any) -> None:
            self.service_ewma = 0.8 * self.service_ewma + 0.2 * (time.monotonic() - started)
            self.lock.release()

        try:
            fut = asyncio.get_running_loop().run_in_executor(self.executor, fn)
        except BaseException:
            self.lock.release()
            raise
        fut.add_done_callback(release)
        try:
            return await asyncio.wait_for(
                asyncio.shield(fut), timeout=max(deadline - time.monotonic(), 0.001)
            )
        except asyncio.TimeoutError:
            raise RequestTimeoutError(self.settings.timeout) from None

    def close(self) -> None:
        self.executor.shutdown(wait=False)
        self.transcribers.clear()


def _worker(request: Request) -> SpeechWorker:
    st = state(request)
    if st.speech is None:
        st.speech = SpeechWorker(st.settings)
    return st.speech  # type: ignore[no-any-return]


async def _upload(file: UploadFile) -> tuple[bytes, str]:
    from edgewise.audio.models import require_faster_whisper

    require_faster_whisper()  # 501 with the install line before anything else
    data = await file.read()
    if not data:
        raise InputError(f"the uploaded file {file.filename or 'file'!r} is empty (0 bytes)")
    return data, file.filename or "audio"


def _language(value: str | None) -> str | None:
    return value.strip().lower() or None if value else None


def _transcribe(worker: SpeechWorker, model: str | None, language: str | None) -> Any:
    def run(data: bytes, name: str) -> Any:
        import io

        source = io.BytesIO(data)
        source.name = name  # type: ignore[attr-defined]
        return worker.transcriber(model, language).transcribe(source)

    return run


@router.post(
    "/v1/audio/transcriptions",
    summary="Transcribe an audio file (OpenAI-compatible)",
    response_model=None,
)
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile, File(description=UPLOAD)],
    model: Annotated[
        str, Form(description="whisper-1 (tiny.en for English, else base), tiny.en, base.")
    ] = "whisper-1",
    language: Annotated[str | None, Form(description="ISO 639-1 code, e.g. en or es.")] = None,
    response_format: Annotated[str, Form(description=", ".join(RESPONSE_FORMATS))] = "json",
    temperature: Annotated[
        float | None, Form(ge=0.0, le=1.0, description="Accepted; decoding is beam search.")
    ] = None,
    prompt: Annotated[str | None, Form(description="Accepted; not used.")] = None,
) -> Response:
    fmt = response_format.strip().lower()
    if fmt not in RESPONSE_FORMATS:
        raise InputError(
            f"unknown response_format {response_format!r}; use {', '.join(RESPONSE_FORMATS)}"
        )
    chosen, lang = speech_model(model), _language(language)
    data, name = await _upload(file)
    worker = _worker(request)
    deadline = time.monotonic() + state(request).settings.timeout
    run = _transcribe(worker, chosen, lang)
    transcript = await worker.call(lambda: run(data, name), deadline, disconnect_probe(request))
    _record(request, transcript)
    _check_audio(transcript, name)
    body = transcript.to_openai(fmt)
    headers = _warnings(transcript)
    if isinstance(body, str):
        return PlainTextResponse(body, headers=headers)
    return JSONResponse(body, headers=headers)


@router.post(
    "/v1/voice-note",
    summary="Transcript, key points and action items of a recording",
    response_model=VoiceNote,
)
async def voice_note(
    request: Request,
    file: Annotated[UploadFile, File(description=UPLOAD)],
    model: Annotated[
        str | None, Form(description="Language model for the summary and action items.")
    ] = None,
    speech_model_name: Annotated[
        str, Form(alias="speech_model", description="whisper-1, tiny.en or base.")
    ] = "whisper-1",
    language: Annotated[str | None, Form(description="ISO 639-1 code, e.g. en or es.")] = None,
    reference_date: Annotated[
        str | None,
        Form(description="YYYY-MM-DD that 'tomorrow', 'by Friday' count from (default: today)."),
    ] = None,
) -> VoiceNote:
    ref = date.today()
    if reference_date:
        try:
            ref = date.fromisoformat(reference_date.strip())
        except ValueError:
            raise InputError(f"reference_date must be YYYY-MM-DD, not {reference_date!r}") from None
    chosen, lang = speech_model(speech_model_name), _language(language)
    data, name = await _upload(file)
    worker = _worker(request)
    st = state(request)
    t0 = time.monotonic()
    run = _transcribe(worker, chosen, lang)
    transcript = await worker.call(
        lambda: run(data, name), t0 + st.settings.timeout, disconnect_probe(request)
    )
    _record(request, transcript)
    _check_audio(transcript, name)

    def notes(engine: Any, _model: LoadedModel) -> VoiceNote:
        return note_from_transcript(transcript, name=name, reference_date=ref, engine=engine)

    return await st.pool.call(model, notes, disconnected=disconnect_probe(request))


def _check_audio(transcript: Any, name: str) -> None:
    if transcript.duration <= 0:
        raise InputError(
            f"{name}: the upload holds no audio samples (a truncated or empty recording)"
        )


def _warnings(transcript: Any) -> dict[str, str]:
    """A truncated or damaged file is transcribed as far as it goes; the header says so."""
    if not transcript.warnings:
        return {}
    return {
        "X-Edgewise-Warning": "; ".join(transcript.warnings).encode("ascii", "replace").decode()
    }


def _record(request: Request, transcript: Any) -> None:
    m = state(request).metrics
    m.inc("edgewise_audio_seconds_total", transcript.duration, model=transcript.model)
    m.inc("edgewise_transcribe_seconds_total", transcript.ms / 1000, model=transcript.model)
