"""Teacher data for the embedded ``nano-lingua2`` classifier.

Writes (prompt, compressed_prompt) records, the MeetingBank-LLMCompressed layout that
``llmlingstral train-llmlingua2`` reads, from two teachers:

* **nano LLMLingua**: passages of the nano training corpus (``.cache/corpus/train.jsonl``,
  built by ``corpus.py``), compressed by this library's LLMLingua with the ``nano`` scorer
  at rates drawn from 0.3 to 0.7. The classifier learns which words the scorer finds
  informative.
* **human deletions**: the development split of the Google sentence-compression data
  (records 0..599 for training; 600..699 are written to a separate validation file). The
  held-out records 700..999 are never read.
* **fact templates**: short fact-dense passages in English, French, German, Chinese and
  Japanese (``fact_sentences.py``): filler marked in templates is dropped, dates, times,
  amounts and identifiers are kept.

``label-llmlingua2`` then labels every word of a protected fact keep, whichever teacher
dropped it.

    python training/nano_lingua2_data.py --passages 1500
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from tqdm.auto import tqdm

from fact_sentences import fact_records

ROOT = Path(__file__).resolve().parents[1]
GOOGLE = ROOT / "benchmarks" / "data" / "google-sentence-compression-test.jsonl"
GOOGLE_TRAIN, GOOGLE_VALID = range(0, 600), range(600, 700)


def corpus_passages(path: Path, count: int, max_tokens: int, tokenizer, seed: int) -> list[str]:
    """``count`` passages of whole sentences, at most ``max_tokens`` tokens each."""
    from llmlingstral.text.sentences import split_sentences

    docs = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    rng = random.Random(seed)
    rng.shuffle(docs)
    passages: list[str] = []
    for doc in docs:
        current, size = [], 0
        for sentence in split_sentences(doc):
            n = tokenizer.count(sentence)
            if current and size + n > max_tokens:
                passages.append("".join(current).strip())
                current, size = [], 0
            if n <= max_tokens:
                current.append(sentence)
                size += n
        if current:
            passages.append("".join(current).strip())
        if len(passages) >= count:
            break
    return [p for p in passages if len(p.split()) >= 20][:count]


def cached_nano_records(passages: list[str], seed: int, path: Path) -> list[dict]:
    """:func:`nano_records`, read back from ``path`` when it holds these passages (the slow
    step: about 10 minutes on 2 cores), else computed and written there."""
    if path.is_file():
        cached = [json.loads(line) for line in path.open(encoding="utf-8")]
        if [r["prompt"] for r in cached] == passages and all(r.get("seed") == seed
                                                              for r in cached):
            print(f"reusing {len(cached)} nano LLMLingua records from {path}")
            return cached
    records = nano_records(passages, seed)
    write_jsonl(path, records)
    return records


def nano_records(passages: list[str], seed: int) -> list[dict]:
    from llmlingstral import PromptCompressor

    compressor = PromptCompressor("nano", device_map="cpu")
    rng = random.Random(seed)
    records = []
    for text in tqdm(passages, desc="nano LLMLingua labels", unit="passage", disable=None):
        rate = round(rng.uniform(0.3, 0.7), 2)
        result = compressor.compress_prompt(text, rate=rate, show_progress=False)
        records.append({"prompt": text, "compressed_prompt": result["compressed_prompt"],
                        "source": "nano-llmlingua", "rate": rate, "seed": seed})
    return records


def google_records(indices: range, path: Path = GOOGLE) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"data file not found: {path}. The repository ships it in "
                         f"benchmarks/data/; pass --google PATH to read another copy.")
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(indices.stop), handle)]
    return [{"prompt": rows[i]["text"], "compressed_prompt": rows[i]["summaries"][0],
             "source": "google-dev"} for i in indices]


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / ".cache" / "corpus" / "train.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "nano_lingua2")
    parser.add_argument("--passages", type=int, default=1500)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--human-repeat", type=int, default=4,
                        help="copies of each human record, to balance the two teachers")
    parser.add_argument("--fact-passages", type=int, default=500,
                        help="fact-dense template passages, five languages in turn")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--google", type=Path, default=GOOGLE,
                        help="google-sentence-compression-test.jsonl (default: benchmarks/data)")
    args = parser.parse_args()

    from llmlingstral import load_tokenizer

    tokenizer = load_tokenizer("v3")
    passages = corpus_passages(args.corpus, args.passages, args.max_tokens, tokenizer, args.seed)
    human = google_records(GOOGLE_TRAIN, args.google) * args.human_repeat
    records = (cached_nano_records(passages, args.seed, args.out / "nano_teacher.jsonl") + human
               + fact_records(args.fact_passages, args.seed))
    random.Random(args.seed).shuffle(records)
    write_jsonl(args.out / "train.jsonl", records)
    write_jsonl(args.out / "valid_google.jsonl", google_records(GOOGLE_VALID, args.google))
    print(f"wrote {len(records)} training records and {len(GOOGLE_VALID)} validation records "
          f"to {args.out}")


if __name__ == "__main__":
    main()
