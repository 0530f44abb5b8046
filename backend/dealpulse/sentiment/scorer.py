"""The fast path: one loaded model version per process, scoring many emails per batched pass with highlights."""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from transformers import AutoConfig, AutoTokenizer

from .base_model import choose_threads, force_offline, quiet_transformers
from .calibration import read_temperature
from ..domain.tone_labels import LABELS
from .modeling import load_tone_classifier
from .preprocess import PreparedText, prepare_text

MAX_LENGTH = 128
BATCH_SIZE = 32
MAX_HIGHLIGHTS = 3
# An email of this many sentences (after any salutation) is long: its sentences are scored too, for highlights.
LONG_EMAIL_SENTENCES = 3
# A batch's longest sequence is at most this multiple (plus a few tokens) of its shortest: little compute on padding.
PADDING_SLACK = 1.5
RUNTIMES = ("onnx-int8", "int8", "fp32")
# Measured on the seed model (models/sentiment/README.md): ONNX Runtime int8 keeps macro-F1 within 0.1 point of
# fp32 and is several times faster than torch fp32 or torch dynamic int8 on this CPU.
DEFAULT_RUNTIME = "onnx-int8"
_NEUTRAL_PROBABILITIES = {"negative": 0.0, "neutral": 1.0, "positive": 0.0}


@dataclass(frozen=True)
class ToneResult:
    """The tone of one email: label, score = P(positive) − P(negative), the sentences behind it, and the version.

    Probabilities (and so score and confidence, the probability of the label) are calibrated: the version's
    temperature (calibration.json) divides the logits before the softmax.
    """

    label: str
    score: float
    confidence: float
    probabilities: dict[str, float]
    highlights: list[dict] = field(default_factory=list)
    model_version: str = ""
    reason: str | None = None  # why nothing was scored ("no_text", "unsupported_language"), else None

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def _rounded(probabilities: Sequence[float]) -> dict[str, float]:
    return {label: round(float(p), 4) for label, p in zip(LABELS, probabilities)}


def _tone(probabilities: Sequence[float]) -> float:
    return round(float(probabilities[2]) - float(probabilities[0]), 4)


class ToneScorer:
    """A model version loaded for inference (fp32 or int8 dynamic quantisation), warmed, thread count pinned."""

    def __init__(self, version_dir: Path, *, runtime: str = DEFAULT_RUNTIME, threads: int = 0):
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}")
        force_offline()
        self.version_dir = Path(version_dir)
        self.version = self.version_dir.name
        self.runtime = runtime
        self.temperature = read_temperature(self.version_dir)
        threads = choose_threads(threads)
        torch.set_num_threads(threads)
        with quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(self.version_dir, local_files_only=True)
            config = AutoConfig.from_pretrained(self.version_dir, local_files_only=True)
            if tuple(config.id2label.get(i) for i in range(len(LABELS))) != LABELS:
                raise ValueError(f"{self.version_dir}: labels {config.id2label} are not {LABELS}")
            self.model: torch.nn.Module | None = None
            self._session = None
            self._lanes: list = []
            if runtime == "onnx-int8":
                self._session = _onnx_session(self.version_dir, threads)
                if threads > 1:
                    # Many small batches run faster as one single-threaded session per core than as one session
                    # splitting every matrix product across the cores (measured: +7-13% emails/s on 2 cores).
                    self._lanes = [_onnx_session(self.version_dir, 1) for _ in range(threads)]
                    self._lane_pool = ThreadPoolExecutor(len(self._lanes), thread_name_prefix=f"tone-{self.version}")
            else:
                model = load_tone_classifier(self.version_dir)[0].eval()
                self.model = quantize_linear_layers(model) if runtime == "int8" else model
        self._lock = threading.Lock()
        self.score_texts(["Thanks, we are happy to move ahead with the order."])

    def score_texts(self, texts: Sequence[str], *, split_quotes: bool = True) -> list[ToneResult]:
        """Score whole emails (quotes, signatures and disclaimers are dropped first unless `split_quotes` is False)."""
        prepared = [prepare_text(_as_text(t), split_quotes=split_quotes) for t in texts]
        return self.score_prepared(prepared)

    def score_prepared(self, prepared: Sequence[PreparedText]) -> list[ToneResult]:
        """Score already prepared texts: whole texts, plus the sentences of long ones, in one length-sorted pass."""
        readable = [item for item in prepared if item.skip_reason is None]
        whole_ids = self._encode([item.text for item in readable])
        sequences = list(whole_ids)
        plans: list[tuple[int, list[int]]] = []
        sentence_texts: list[str] = []
        for row, item in enumerate(readable):
            sentence_rows = []
            if needs_sentence_scores(item, len(whole_ids[row])):
                first = len(sequences) + len(sentence_texts)
                sentence_rows = list(range(first, first + len(item.sentences)))
                sentence_texts += [sentence.text for sentence in item.sentences]
            plans.append((row, sentence_rows))
        sequences += self._encode(sentence_texts)
        lengths = [len(ids) for ids in sequences]
        probabilities = self._predict(sequences, lengths)
        readable_plans = iter(plans)
        results = []
        for item in prepared:
            if item.skip_reason is not None:
                results.append(
                    ToneResult("neutral", 0.0, 0.0, dict(_NEUTRAL_PROBABILITIES), [], self.version, item.skip_reason)
                )
            else:
                results.append(self._combine(item, next(readable_plans), probabilities, lengths))
        return results

    def _encode(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return self.tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]

    def _predict(self, sequences: list[list[int]], lengths: list[int]) -> torch.Tensor:
        output = torch.empty(len(sequences), len(LABELS))
        if not sequences:
            return output
        batches = padding_efficient_batches(lengths)

        def run(batch_rows: list[list[int]], session=None) -> None:
            for rows in batch_rows:
                batch = self.tokenizer.pad({"input_ids": [sequences[i] for i in rows]}, return_tensors="pt")
                output[rows] = torch.softmax(self._logits(batch, session).float() / self.temperature, dim=-1)

        with self._lock, torch.inference_mode():
            if len(batches) < 2 or not self._lanes:
                run(batches)
            else:
                shares = split_by_tokens(batches, lengths, len(self._lanes))
                for done in [self._lane_pool.submit(run, share, lane) for share, lane in zip(shares, self._lanes)]:
                    done.result()
        return output

    def _logits(self, batch: dict[str, torch.Tensor], session=None) -> torch.Tensor:
        if self.model is not None:
            return self.model(**batch).logits
        feeds = {"input_ids": batch["input_ids"].numpy(), "attention_mask": batch["attention_mask"].numpy()}
        return torch.from_numpy((session or self._session).run(["logits"], feeds)[0])

    def _combine(self, item: PreparedText, plan: tuple[int, list[int]], probabilities: torch.Tensor, lengths: list[int]) -> ToneResult:
        whole, sentence_rows = plan
        final = probabilities[whole]
        if sentence_rows and lengths[whole] >= MAX_LENGTH:
            # The whole text was truncated: let every sentence, including the unseen tail, have a say.
            final = (final + probabilities[sentence_rows].mean(dim=0)) / 2
        label_id = int(final.argmax())
        if sentence_rows:
            spans = [(row, sentence.text, sentence.start, sentence.end) for row, sentence in zip(sentence_rows, item.sentences)]
        else:
            # A short email is its own highlight: the new text after any salutation.
            start, end = (item.sentences[0].start, item.sentences[-1].end) if item.sentences else (0, len(item.text))
            spans = [(whole, item.text[start:end], start, end)]
        highlights = []
        for row, text, start, end in spans:
            own = probabilities[row]
            if int(own.argmax()) != label_id:
                continue
            highlights.append(
                {"text": text, "label": LABELS[label_id], "score": _tone(own), "start": start, "end": end,
                 "strength": round(float(own[label_id]), 4)}
            )
        highlights.sort(key=lambda h: -h["strength"])
        return ToneResult(
            label=LABELS[label_id],
            score=_tone(final),
            confidence=round(float(final[label_id]), 4),
            probabilities=_rounded(final),
            highlights=highlights[:MAX_HIGHLIGHTS],
            model_version=self.version,
        )


def needs_sentence_scores(item: PreparedText, whole_tokens: int) -> bool:
    """Long emails (several sentences, or more than the model reads at once) are also scored sentence by sentence."""
    return len(item.sentences) >= LONG_EMAIL_SENTENCES or (len(item.sentences) > 1 and whole_tokens >= MAX_LENGTH)


def split_by_tokens(batches: list[list[int]], lengths: Sequence[int], parts: int) -> list[list[list[int]]]:
    """Length-ordered batches dealt into `parts` shares of about equal padded size, largest first to the lightest."""
    def padded_size(rows: list[int]) -> int:
        return len(rows) * lengths[rows[-1]]  # rows are in length order: the last is the longest

    shares: list[list[list[int]]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for rows in sorted(batches, key=padded_size, reverse=True):
        lightest = loads.index(min(loads))
        shares[lightest].append(rows)
        loads[lightest] += padded_size(rows)
    return shares


def padding_efficient_batches(lengths: Sequence[int]) -> list[list[int]]:
    """Row indices in length order, cut into batches of at most BATCH_SIZE whose longest row is close to the shortest."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for row in order:
        current = batches[-1] if batches else None
        if current and len(current) < BATCH_SIZE and lengths[row] <= lengths[current[0]] * PADDING_SLACK + 4:
            current.append(row)
        else:
            batches.append([row])
    return batches


def _onnx_session(version_dir: Path, threads: int):
    import onnxruntime

    from .onnx_export import ensure_onnx_int8

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Sleep rather than spin while waiting for work: on shared cores spinning threads starve each other
    # (measured: p50 36 -> 20 ms, p95 236 -> 88 ms for single emails at load average 5 on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(ensure_onnx_int8(version_dir)), options, providers=["CPUExecutionProvider"])


def quantize_linear_layers(model: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantisation of every Linear layer (weights int8, activations quantised on the fly)."""
    with warnings.catch_warnings():
        # torch 2.13 marks torch.ao.quantization deprecated in favour of torchao, which is not a dependency here.
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated", category=DeprecationWarning)
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


_cache_lock = threading.Lock()
_loaded: dict[tuple[str, str], ToneScorer] = {}
_KEEP_LOADED = 2


def load_scorer(version_dir: Path, *, runtime: str = DEFAULT_RUNTIME, threads: int = 0) -> ToneScorer:
    """The process's scorer for a version folder: loaded and warmed once, then reused (the two most recent kept)."""
    key = (str(Path(version_dir).resolve()), runtime)
    with _cache_lock:
        scorer = _loaded.pop(key, None)
        if scorer is None:
            scorer = ToneScorer(Path(version_dir), runtime=runtime, threads=threads)
        _loaded[key] = scorer
        while len(_loaded) > _KEEP_LOADED:
            _loaded.pop(next(iter(_loaded)))
        return scorer


def clear_loaded_scorers() -> None:
    """Forget every loaded scorer (tests, or to free memory)."""
    with _cache_lock:
        _loaded.clear()
