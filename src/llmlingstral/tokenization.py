"""Mistral tokenizers, offline and exact.

Two families are supported, both from the files that ship inside ``mistral-common``
(or inside a checkpoint folder):

* SentencePiece BPE models (``tokenizer.model.v1``, ``...model.v3`` for Mistral-7B-v0.3, ...).
  They are rebuilt as a Rust ``tokenizers`` pipeline whose merges are ordered by piece
  score, which reproduces SentencePiece ids exactly and also yields character offsets.
* tekken (tiktoken-style byte BPE) for Ministral 3 and the current API models.

All token counts, budgets and reported rates in llmlingstral use :class:`MistralTextTokenizer`.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

from .cancel import check_cancelled
from .errors import LLMLingstralError
from .token_pieces import PIECE_CHARS, cut_rule, pieces
from .validate import check_unicode

SPIECE_UNDERLINE = "\u2581"

_BUNDLED_FILES = {
    "v1": "tokenizer.model.v1",
    "v2": "mistral_instruct_tokenizer_240216.model.v2",
    "v3": "mistral_instruct_tokenizer_240323.model.v3",
    "v7": "mistral_instruct_tokenizer_241114.model.v7",
    "tekken": "tekken_240911.json",
    "tekken-240718": "tekken_240718.json",
}

# Vocabulary size -> bundled tokenizer, for checkpoints that carry no tokenizer file.
_BUNDLED_BY_VOCAB_SIZE = {32000: "v1", 32768: "v3", 131072: "tekken"}


@dataclass(frozen=True)
class Encoding:
    """Token ids with the character span of each token in the encoded text."""

    ids: list[int]
    offsets: list[tuple[int, int]]


def bundled_tokenizer_dir() -> Path:
    """The folder of tokenizer files inside the installed ``mistral-common``."""
    import mistral_common

    return Path(mistral_common.__file__).parent / "data"


class MistralTextTokenizer:
    """A fast, exact Mistral tokenizer for plain text.

    Text is encoded verbatim: strings such as ``"<s>"`` or ``"[INST]"`` inside the text are
    ordinary text, as in mistral-common, never control tokens.
    """

    def __init__(self, tokenizer: Tokenizer, *, kind: str, source: str,
                 bos_id: int = 1, eos_id: int = 2, pad_id: int | None = None,
                 unk_id: int = 0) -> None:
        tokenizer.encode_special_tokens = True
        self._tok = tokenizer
        self.kind = kind
        self.source = source
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.pad_id = pad_id
        self.unk_id = unk_id

    def __repr__(self) -> str:
        return f"MistralTextTokenizer(kind={self.kind!r}, vocab_size={self.vocab_size})"

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, *, add_bos: bool = False,
               add_special_tokens: bool | None = None) -> list[int]:
        """Token ids of ``text`` (without BOS unless ``add_bos`` or ``add_special_tokens``,
        the Hugging Face spelling)."""
        ids = self._tok.encode(_ready(text), add_special_tokens=False).ids
        with_bos = add_bos if add_special_tokens is None else bool(add_special_tokens)
        return [self.bos_id, *ids] if with_bos else ids

    def __call__(self, text: str | Sequence[str], add_special_tokens: bool = True,
                 return_tensors: str | None = None, padding: bool | str = False,
                 **_: object) -> "TokenizerOutput":
        """Encode like a Hugging Face tokenizer: ``tokenizer(text).input_ids`` (with BOS by
        default), ``attention_mask``, a list of texts, ``return_tensors="pt"`` (a 2-D
        tensor; several texts need ``padding=True``, which pads on the left as llmlingua's
        tokenizers do). Other Hugging Face keywords are accepted and ignored."""
        single = isinstance(text, str)
        rows = [self.encode(t, add_bos=add_special_tokens) for t in ([text] if single else text)]
        return _tokenizer_output(rows, single, return_tensors, padding,
                                 self.pad_id if self.pad_id is not None else self.eos_id)

    def encode_with_offsets(self, text: str) -> Encoding:
        """Token ids and the ``(start, end)`` character span of each token."""
        enc = self._tok.encode(_ready(text), add_special_tokens=False)
        return Encoding(ids=list(enc.ids), offsets=[tuple(o) for o in enc.offsets])

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of several texts, encoded in parallel."""
        checked = [_ready(t) for t in texts]
        return [e.ids for e in self._tok.encode_batch(checked, add_special_tokens=False)]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True, **_: object) -> str:
        """Text of ``ids`` (a list, or a 1-D tensor or array); special tokens are skipped
        unless ``skip_special_tokens=False``."""
        return self._tok.decode(_id_list(ids), skip_special_tokens=skip_special_tokens)

    def batch_decode(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = True,
                     **_: object) -> list[str]:
        """:meth:`decode` of each row (a list of lists or a 2-D tensor)."""
        return [self.decode(row, skip_special_tokens) for row in sequences]

    def count(self, text: str, limit: int | None = None) -> int:
        """Number of tokens in ``text``, without BOS: the unit of every budget. A long
        text is counted in pieces where the pipeline allows it (:mod:`.token_pieces`):
        the same total, sooner, and a cancelled caller stops between two pieces.

        With ``limit``, counting stops at the first piece that brings the count to
        ``limit`` or beyond: the result is exact below ``limit``, and at least ``limit``
        otherwise (enough to tell whether a text is that long, without reading all of it).
        """
        if not text:
            return 0
        rule = self._cut_rule if len(text) > PIECE_CHARS else None
        total = 0
        for part in pieces(text, rule) if rule else [text]:
            total += len(self._tok.encode(_ready(part), add_special_tokens=False).ids)
            if limit is not None and total >= limit:
                break
        return total

    def count_batch(self, texts: Sequence[str], limit: int | None = None) -> list[int]:
        """Token counts of several texts (long ones as :meth:`count` counts them, each
        up to ``limit`` if given)."""
        counts = [self.count(t, limit) if len(t) > PIECE_CHARS else None for t in texts]
        short = [i for i, count in enumerate(counts) if count is None]
        for i, ids in zip(short, self.encode_batch([texts[i] for i in short])):
            counts[i] = len(ids)
        return counts

    @functools.cached_property
    def _cut_rule(self) -> str | None:
        return cut_rule(self._tok)

    def id_to_piece(self, token_id: int) -> str | None:
        return self._tok.id_to_token(token_id)

    def save_for_transformers(self, folder: str | os.PathLike, *,
                              model_max_length: int | None = None) -> list[Path]:
        """Write ``tokenizer.json`` and ``tokenizer_config.json`` into ``folder``.

        ``transformers.AutoTokenizer.from_pretrained(folder)`` then gives this tokenizer's
        ids, with BOS in front as Mistral's own transformers tokenizers add it. (Control-token
        spellings such as ``"<s>"`` inside the text are read as control tokens there, as
        transformers does; this class reads them as text.) Returns the files written.
        """
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        clone = Tokenizer.from_str(self._tok.to_str())
        bos = clone.id_to_token(self.bos_id)
        clone.post_processor = processors.TemplateProcessing(
            single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
            special_tokens=[(bos, self.bos_id)])
        config: dict[str, object] = {"tokenizer_class": "PreTrainedTokenizerFast",
                                     "clean_up_tokenization_spaces": False}
        for key, token_id in (("bos_token", self.bos_id), ("eos_token", self.eos_id),
                              ("unk_token", self.unk_id), ("pad_token", self.pad_id)):
            if token_id is not None and token_id >= 0:
                config[key] = clone.id_to_token(token_id)
        if model_max_length:
            config["model_max_length"] = int(model_max_length)
        written = [target / "tokenizer.json", target / "tokenizer_config.json"]
        written[0].write_text(clone.to_str(pretty=False), encoding="utf-8")
        written[1].write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return written

    def to_hf(self):
        """A ``transformers.PreTrainedTokenizerFast`` sharing this tokenizer's pipeline."""
        from transformers import PreTrainedTokenizerFast

        clone = Tokenizer.from_str(self._tok.to_str())
        specials = {}
        for key, token_id in (("bos_token", self.bos_id), ("eos_token", self.eos_id),
                              ("unk_token", self.unk_id), ("pad_token", self.pad_id)):
            if token_id is not None and token_id >= 0:
                specials[key] = clone.id_to_token(token_id)
        if "pad_token" not in specials:
            specials["pad_token"] = specials.get("eos_token")
        hf = PreTrainedTokenizerFast(tokenizer_object=clone, **specials)
        hf.padding_side = "right"
        return hf


class TokenizerOutput(dict):
    """What calling a tokenizer returns: ``out.input_ids`` or ``out["input_ids"]``, and
    ``attention_mask``, as Hugging Face's ``BatchEncoding``."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _tokenizer_output(rows: list[list[int]], single: bool, return_tensors: str | None,
                      padding: bool | str, pad_id: int) -> TokenizerOutput:
    masks = [[1] * len(r) for r in rows]
    width = max((len(r) for r in rows), default=0)
    if padding and padding != "do_not_pad":
        masks = [[0] * (width - len(r)) + m for r, m in zip(rows, masks)]
        rows = [[pad_id] * (width - len(r)) + r for r in rows]
    if return_tensors is None:
        if single:
            return TokenizerOutput(input_ids=rows[0], attention_mask=masks[0])
        return TokenizerOutput(input_ids=rows, attention_mask=masks)
    if return_tensors != "pt":
        raise ValueError(f"return_tensors={return_tensors!r} is not supported; use 'pt' or None")
    if len({len(r) for r in rows}) > 1:
        raise ValueError("texts of different lengths need padding=True with return_tensors='pt'")
    import torch

    return TokenizerOutput(input_ids=torch.tensor(rows, dtype=torch.long),
                           attention_mask=torch.tensor(masks, dtype=torch.long))


def _id_list(ids: object) -> list[int]:
    """Token ids as a flat list of ints, from a list, a tensor or an array."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    ids = list(ids)
    if ids and isinstance(ids[0], list):
        if len(ids) != 1:
            raise ValueError("decode takes one sequence of ids; use batch_decode for several")
        ids = ids[0]
    return [int(i) for i in ids]


def _ready(text: object) -> str:
    """``text``, checked, about to be tokenized: a cancelled caller stops here, before the
    tokenizer's work (long texts take a while; :mod:`.cancel`)."""
    check_cancelled()
    return _check_text(text)


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__}")
    return check_unicode("the text", text)


# --------------------------------------------------------------------------- builders


def build_sentencepiece_tokenizer(model_path: str | os.PathLike) -> Tokenizer:
    """Rebuild a SentencePiece BPE ``.model`` file as an exact ``tokenizers`` pipeline.

    SentencePiece applies the merge whose result has the highest score first; ranking the
    merges by that score (ties broken by piece id) reproduces its segmentation exactly.
    """
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(model_path).read_bytes())
    pieces = proto.pieces
    vocab = {p.piece: i for i, p in enumerate(pieces)}
    normal = {i for i, p in enumerate(pieces) if p.type == 1}
    ranked = []
    for i in normal:
        piece = pieces[i].piece
        for k in range(1, len(piece)):
            left, right = vocab.get(piece[:k]), vocab.get(piece[k:])
            if left in normal and right in normal:
                ranked.append((-pieces[i].score, i, left, right, piece[:k], piece[k:]))
    ranked.sort()
    bpe = models.BPE(vocab=vocab, merges=[(a, b) for *_, a, b in ranked],
                     unk_token=pieces[proto.trainer_spec.unk_id].piece,
                     fuse_unk=True, byte_fallback=True)
    tok = Tokenizer(bpe)
    steps = [normalizers.Replace(" ", SPIECE_UNDERLINE)]
    if proto.normalizer_spec.add_dummy_prefix:
        steps.insert(0, normalizers.Prepend(SPIECE_UNDERLINE))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([
        decoders.Replace(SPIECE_UNDERLINE, " "), decoders.ByteFallback(), decoders.Fuse(),
        decoders.Strip(" ", 1 if proto.normalizer_spec.add_dummy_prefix else 0, 0),
    ])
    controls = [p.piece for p in pieces[:3]]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in controls])
    return tok


def build_tekken_tokenizer(json_path: str | os.PathLike) -> Tokenizer:
    """Convert a tekken ``.json`` file to a ``tokenizers`` pipeline."""
    from transformers import TokenizersBackend

    path = Path(json_path)
    if "tekken" not in path.name or path.suffix != ".json":
        raise LLMLingstralError(f"{path} is not a tekken tokenizer file (expected tekken*.json)")
    converted = TokenizersBackend.convert_to_native_format(vocab_file=str(path))
    return converted["tokenizer_object"]


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, kind: str) -> MistralTextTokenizer:
    if kind == "tekken":
        specials = _tekken_special_ids(path)
        return MistralTextTokenizer(build_tekken_tokenizer(path), kind="tekken", source=path,
                                    **specials)
    if kind == "sentencepiece":
        return MistralTextTokenizer(build_sentencepiece_tokenizer(path), kind="sentencepiece",
                                    source=path)
    tok = Tokenizer.from_file(path)
    return MistralTextTokenizer(tok, kind="tokenizer.json", source=path,
                                **_special_ids_from_tokenizer(tok))


def _tekken_special_ids(path: str) -> dict:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    names = {s.get("token_str"): s.get("rank") for s in data.get("special_tokens", [])}
    return {"bos_id": names.get("<s>", 1), "eos_id": names.get("</s>", 2),
            "pad_id": names.get("<pad>", 11), "unk_id": names.get("<unk>", 0)}


def _special_ids_from_tokenizer(tok: Tokenizer) -> dict:
    def find(*names: str, default: int | None) -> int | None:
        for name in names:
            token_id = tok.token_to_id(name)
            if token_id is not None:
                return token_id
        return default

    return {"bos_id": find("<s>", default=1), "eos_id": find("</s>", default=2),
            "pad_id": find("<pad>", default=None), "unk_id": find("<unk>", default=0)}


def load_tokenizer(name_or_path: str | os.PathLike) -> MistralTextTokenizer:
    """Load a Mistral tokenizer.

    ``name_or_path`` is a bundled name (``"v1"``, ``"v2"``, ``"v3"``, ``"v7"``, ``"tekken"``),
    a tokenizer file (SentencePiece ``.model*``, ``tekken*.json`` or ``tokenizer.json``),
    or a checkpoint folder holding one of those.
    """
    name = str(name_or_path)
    if name in _BUNDLED_FILES:
        path = bundled_tokenizer_dir() / _BUNDLED_FILES[name]
        return _load_cached(str(path), "tekken" if name.startswith("tekken") else "sentencepiece")
    path = Path(name)
    if path.is_dir():
        found = find_tokenizer_file(path)
        if found is None:
            raise LLMLingstralError(
                f"no tokenizer file (tekken.json, tokenizer.model*, tokenizer.json) in {path}; "
                f"pass a bundled tokenizer name such as 'v3' or 'tekken'")
        path = found
    if not path.is_file():
        raise LLMLingstralError(
            f"unknown tokenizer {name!r}: expected one of {sorted(_BUNDLED_FILES)} or a path")
    return _load_cached(str(path), _kind_of_file(path))


def _kind_of_file(path: Path) -> str:
    if "tekken" in path.name and path.suffix == ".json":
        return "tekken"
    if path.name == "tokenizer.json" or path.suffix == ".json":
        return "tokenizer.json"
    return "sentencepiece"


def find_tokenizer_file(folder: Path) -> Path | None:
    """The tokenizer file of a checkpoint folder, in order of exactness, or None."""
    for pattern in ("tekken*.json", "tokenizer.model.v*", "tokenizer.model", "tokenizer.json"):
        matches = sorted(folder.glob(pattern))
        if matches:
            return matches[-1]
    return None


def tokenizer_for_checkpoint(folder: str | os.PathLike, vocab_size: int | None,
                             fallback: str | None = None) -> MistralTextTokenizer:
    """The tokenizer of a checkpoint folder.

    Without a tokenizer file in the folder: the bundled ``fallback`` (a preset's tokenizer),
    else the bundled one matching the vocabulary size.
    """
    found = find_tokenizer_file(Path(folder))
    if found is not None:
        return load_tokenizer(found)
    if fallback is not None:
        return load_tokenizer(fallback)
    bundled = _BUNDLED_BY_VOCAB_SIZE.get(vocab_size or -1)
    if bundled is None:
        raise LLMLingstralError(
            f"{folder} has no tokenizer file and its vocabulary size {vocab_size} matches no "
            f"Mistral tokenizer (32000, 32768, 131072); add tokenizer.model or tekken.json")
    return load_tokenizer(bundled)
