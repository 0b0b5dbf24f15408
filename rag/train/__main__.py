"""``python -m rag.train support [options]``: train a model and write it under ``rag/models``.

``ranker``: the answer ranker (``rag.train.ranker``), then its abstention decision.
``support``: the support model (``rag.train.support``), then its calibrated decision
(``rag.train.calibrate``). ``calibrate-support``: only the decision, on the committed model.
``report-composer``: both answer writers on the hand-written calibration questions
(``rag.train.composer_report``). ``fit-composer``: the default composer's tunables, fitted on
those questions (``rag.train.fit_composer``). ``probe-answers``: two ideas for the default
composer tried with the ranker's scores, neither shipped (``rag.train.probe``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ap = argparse.ArgumentParser(prog="python -m rag.train", description=__doc__)
    sub = ap.add_subparsers(dest="what", required=True)
    from . import abstain, calibrate, composer_report, fit_composer, probe, ranker, support

    p = sub.add_parser("support", help="train the support model (about an hour)")
    support.add_arguments(p)
    calibrate.add_arguments(p, standalone=False)
    p = sub.add_parser("calibrate-support", help="fit the support decision on the committed model")
    calibrate.add_arguments(p)
    p = sub.add_parser("ranker", help="train the answer ranker (about 40 minutes)")
    ranker.add_arguments(p)
    abstain.add_arguments(p, standalone=False)
    p = sub.add_parser("calibrate-ranker",
                       help="fit the abstention decision on the committed ranker")
    abstain.add_arguments(p)
    p = sub.add_parser("report-composer",
                       help="both answer writers on the hand-written calibration questions")
    composer_report.add_arguments(p)
    p = sub.add_parser("fit-composer",
                       help="fit the default composer's tunables on those questions")
    fit_composer.add_arguments(p)
    p = sub.add_parser("probe-answers",
                       help="two ideas for the default composer tried with the ranker")
    probe.add_arguments(p)
    args = ap.parse_args(argv)
    if args.what == "probe-answers":
        probe.run(args)
        return 0
    if args.what == "report-composer":
        composer_report.run(args)
        return 0
    if args.what == "fit-composer":
        fit_composer.run(args)
        return 0
    if args.what in ("ranker", "calibrate-ranker"):
        from .card import write_ranker_card

        if args.what == "ranker":
            ranker.run(args)
        decision = abstain.run(args)
        print(f"wrote {write_ranker_card(getattr(args, 'model', None))}", file=sys.stderr)
        print(json.dumps(decision, indent=1))
        return 0
    if args.what == "support":
        support.run(args)
    out = calibrate.run(args)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
