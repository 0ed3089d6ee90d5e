"""Command line: each subcommand parses, calls one library function, prints.

Errors in the user's input print one line, `error: <where>: <what>`, and exit 2; --debug shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from inoculate._log import quiet_library_warnings
from inoculate.errors import InoculateError
from inoculate.serve import add_serve_command


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise InoculateError(f"{message} (see `{self.prog} --help`)", "arguments")


def _parse_kv(items: list[str], where: str) -> dict:
    from inoculate._config import parse_key_value

    return dict(parse_key_value(item, where) for item in items)


def _prompt_spec(args):
    from inoculate.inoculation import PromptSpec

    prompts = list(args.prompt or [])
    if args.prompts_file:
        from inoculate.ranking import read_prompt_file  # the same checks as `inoculate rank`

        prompts += [str(p) for p in read_prompt_file(args.prompts_file)]
    if not prompts:
        raise InoculateError("give at least one --prompt or a --prompts-file", "arguments")
    condition = _parse_kv(args.condition or [], "--condition") or None
    return PromptSpec(tuple(prompts), args.placement, condition, separator=args.separator, seed=args.seed)


def _scorer_arg(text: str):
    """`caps`, `language:lang=es,threshold=0.6`, `keywords:words=[Bot, "— Bot"],mode=any`: values are
    YAML, and commas inside brackets or quotes do not split arguments."""
    from inoculate.scorer_kinds import make_scorer

    kind, _, rest = text.partition(":")
    items, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(rest + ","):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(rest[start:i])
            start = i + 1
    kwargs = _parse_kv([p for p in items if p.strip()], f"--trait {text}")
    return make_scorer(kind, f"--trait {text}", **kwargs)


def _add_run_parser(sub) -> None:
    sp = sub.add_parser("run", help="run (or resume) an experiment grid and write its report")
    sp.add_argument("spec", nargs="?", help="YAML spec holding only what it changes (default: none, the setting's "
                    "full default grid; the demo is examples/demo.yaml)")
    sp.add_argument("--out", help="output folder, re-used to resume (default: runs/<spec file name>, or "
                                   "runs/<setting> without a spec file)")
    sp.add_argument("--setting", help="a built-in setting (`inoculate settings` lists them); same as --set setting=NAME")
    sp.add_argument("--model", help="the embedded model's name, a hub id or a local checkpoint; same as --set model=...")
    sp.add_argument("--seeds", type=int, nargs="+", metavar="SEED", help="training seeds, e.g. --seeds 0 1 2")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a spec key, e.g. train.epochs=2")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.add_argument("--dry-run", action="store_true", help="print the plan (runs, paid jobs, requests) and stop: "
                    "nothing is written, trained, requested or spent")
    sp.add_argument("--yes", action="store_true", help="launch paid work (hosted fine-tuning jobs) after stating its "
                    "cost; same as --set confirm_cost=true")
    sp.add_argument("--train-only", action="store_true", help="train every arm, evaluate nothing (then serve the "
                    "adapters and evaluate through the server: README, 'Judges and served models')")
    sp.add_argument("--executor", choices=("serial", "ray"), help="where the runs execute: one after another here "
                    "(serial, the default) or as Ray tasks (needs inoculate[ray]); same as --set executor.kind=...")
    sp.add_argument("--ray-address", metavar="ADDR", help="a running Ray cluster to join (implies --executor ray; "
                    "default: $RAY_ADDRESS, else a Ray started for this grid)")
    sp.set_defaults(func=cmd_run)


def _add_adapters_parser(sub) -> None:
    sp = sub.add_parser("adapters", help="the adapters a grid trained, as a server's --lora-modules NAME=PATH")
    sp.add_argument("out", help="the grid's output folder")
    sp.set_defaults(func=cmd_adapters)


def cmd_adapters(args):
    from inoculate.backends.served import served_adapters

    found = served_adapters(args.out)
    if not found:
        raise InoculateError("no finished trained runs here", args.out)
    print("# serve them with vLLM (the served sampler names each adapter by its run folder):")
    print("#   vllm serve BASE --enable-lora --max-lora-rank R \\")
    for arm, seed, name, path in found:
        print(f"--lora-modules {name}={path}  # {arm}, seed {seed}")


def cmd_apply(args):
    from inoculate.data import load_jsonl, save_jsonl
    from inoculate.inoculation import apply_prompt

    examples = load_jsonl(args.input, require_assistant=not args.eval)
    spec = _prompt_spec(args)
    out = apply_prompt(examples, spec)
    save_jsonl(args.output, out)
    applied = sum(ex.metadata["inoculation"] is not None for ex in out)
    if spec.condition and not applied:
        print(f"warning: --condition {spec.condition} matched none of the {len(out)} examples; check the metadata "
              "key and value (values are read as YAML: label=1 is a number)", file=sys.stderr)
    print(f"wrote {len(out)} examples to {args.output} ({applied} with the prompt)")


def cmd_validate(args):
    from inoculate.data import load_jsonl

    examples = load_jsonl(args.input, require_assistant=not args.eval)
    print(f"{args.input}: {len(examples)} valid examples")


def cmd_train(args):
    from inoculate._config import from_dict
    from inoculate.backends import ModelRef
    from inoculate.backends.local import LocalTrainer
    from inoculate.data import load_jsonl
    from inoculate.chat import encode_examples
    from inoculate.models import load_tokenizer
    from inoculate.training import TrainConfig, schedule_notes

    config = from_dict(TrainConfig, _parse_kv(args.set or [], "--set"), "train")
    examples = load_jsonl(args.input)
    encode_examples(load_tokenizer(args.model), examples, config.max_length)  # bad input fails before any warning
    for note in schedule_notes(config, len(examples)):
        print(f"warning: {note}", file=sys.stderr)
    trained = LocalTrainer(config, args.device, args.dtype).train(ModelRef(args.model), examples, args.seed,
                                                                   Path(args.output))
    print(f"adapter saved to {trained.model.adapter}; {trained.summary}")


def cmd_evaluate(args):
    from inoculate._config import from_dict
    from inoculate._io import atomic_write_jsonl
    from inoculate.backends import ModelRef
    from inoculate.backends.local import LocalSampler
    from inoculate.data import ensure_ids, load_jsonl
    from inoculate.evaluation import evaluate, trait_rate
    from inoculate.generation import GenerationConfig
    from inoculate.inoculation import PromptSpec
    from inoculate.settings import Trait

    gen = from_dict(GenerationConfig, _parse_kv(args.set or [], "--set"), "generation")
    prompts = ensure_ids(load_jsonl(args.prompts, require_assistant=False), args.prompts)
    traits = [Trait(scorer.name, scorer, wanted=False) for scorer in map(_scorer_arg, args.trait)]
    contexts = {"none": None}
    for item in args.context or []:
        name, sep, prompt = item.partition("=")
        if not sep or not prompt.strip():
            raise InoculateError(f"expected NAME=PROMPT, got {item!r}", "--context")
        contexts[name] = PromptSpec((prompt,), args.placement)
    sampler, model = LocalSampler(args.device, args.dtype), ModelRef(args.model, args.adapter)
    rows = []
    for name, spec in contexts.items():
        samples, scores = evaluate(sampler, model, prompts, spec, traits, gen, desc=name)
        rows += [{"context": name, "prompt_id": s["prompt_id"], "sample": s["sample"], "text": s["text"],
                  **{t.name: j[t.name] for t in traits}} for s, j in zip(samples, scores)]
    atomic_write_jsonl(Path(args.output), rows)
    for name in contexts:
        for t in traits:
            est = trait_rate([r for r in rows if r["context"] == name], t.name)
            if est is None:
                print(f"{name:>16}  {t.name:<12} not applicable to these prompts")
                continue
            print(f"{name:>16}  {t.name:<12} {est.fmt()}  (95% CI over {est.n} prompts)")
    print(f"per-sample results: {args.output}")


def cmd_rank(args):
    from inoculate._config import from_dict
    from inoculate.data import load_jsonl
    from inoculate.generation import GenerationConfig
    from inoculate.models import load_model
    from inoculate.ranking import format_table, rank_prompts, read_prompt_file, write_ranking
    from inoculate.settings import get_setting

    setting = get_setting(args.setting) if args.setting else None
    if args.data:
        examples = load_jsonl(args.data)
    elif setting:
        examples = setting.train_examples()
    else:
        raise InoculateError("give --data TRAIN.jsonl or --setting NAME", "arguments")
    prompts_file = args.prompts
    if prompts_file is None:
        files = setting.candidate_prompts() if setting else {}
        if args.candidates not in files:
            raise InoculateError(f"give --prompts FILE, or --setting with --candidates "
                                 f"({', '.join(files) or 'this setting ships none'})", "arguments")
        prompts_file = files[args.candidates]
    prompts = read_prompt_file(prompts_file)
    scorer = _scorer_arg(args.trait) if args.trait else None
    if args.elicit and scorer is None:
        raise InoculateError("--elicit needs --trait (the scorer of the trait to elicit)", "arguments")
    evals = load_jsonl(args.eval_prompts, require_assistant=False) if args.eval_prompts else (
        setting.eval_prompts() if setting and args.elicit else None)
    gen = from_dict(GenerationConfig, _parse_kv(args.set or [], "--set"), "generation")
    print(f"scoring {len(prompts)} candidate prompts on {min(args.n_examples, len(examples))} of {len(examples)} "
          "training examples (--n-examples)", file=sys.stderr)
    model, tokenizer = load_model(args.model, args.device, args.dtype)
    scores = rank_prompts(model, tokenizer, examples, prompts, args.placement, scorer if args.elicit else None,
                          evals, gen, n_examples=args.n_examples, seed=args.seed,
                          log=lambda m: print(m, file=sys.stderr))
    print(format_table(scores))
    paths = write_ranking(scores, args.output)
    print(f"ranking: {', '.join(str(p) for p in paths.values())}")


def cmd_run(args):
    from dataclasses import replace

    from inoculate.experiment import load_spec, run_experiment

    overrides = list(args.set or [])
    if args.setting:
        overrides.append(f"setting={args.setting}")
    if args.model:
        overrides.append(f"model={args.model}")
    if args.seeds:
        overrides.append(f"seeds=[{','.join(map(str, args.seeds))}]")
    if args.executor == "serial" and args.ray_address:
        raise InoculateError("--ray-address needs the Ray executor, not --executor serial", "--ray-address")
    overrides += ["executor=null"] * (args.executor == "serial") + ["executor.kind=ray"] * (
        args.executor == "ray" or bool(args.ray_address))
    if args.ray_address:
        overrides.append(f"executor.address={json.dumps(args.ray_address)}")
    spec = load_spec(args.spec, overrides)
    # each grid its own folder by default: the demo's is runs/demo, the setting's full grid runs/<setting>
    out = args.out or Path("runs") / (Path(args.spec).stem if args.spec else spec.setting or "custom")
    if args.yes:
        spec = replace(spec, confirm_cost=True)
    report = run_experiment(spec, out, progress=not args.quiet, train_only=args.train_only, dry_run=args.dry_run)
    if not args.dry_run:
        print(f"adapters: inoculate adapters {out}" if args.train_only else f"report: {report}")


def cmd_report(args):
    from inoculate.report import write_report

    print(f"report: {write_report(args.out)}")


def cmd_settings(args):
    from inoculate.settings import SETTINGS

    for name, cls in SETTINGS.items():
        print(f"{name:<20} {cls.description}")


def cmd_prepare_model(args):
    from inoculate.models import prepare_embedded_model

    print(f"embedded model ready at {prepare_embedded_model(force=args.force)}")


def cmd_prepare_data(args):
    from inoculate.settings.spurious_sentiment import prepare_data

    print(f"sentiment data ready at {prepare_data(force=args.force)}")


def _model_args(sp) -> None:
    from inoculate.models import DTYPES, EMBEDDED_MODEL

    sp.add_argument("--model", default=EMBEDDED_MODEL, help="the embedded model's name, a hub id or a local checkpoint")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    sp.add_argument("--dtype", default="auto", choices=DTYPES, help="auto: fp32 on CPU, bf16 on a GPU that has it")


def _add_rank_parser(sub) -> None:
    from inoculate.inoculation import PLACEMENTS
    from inoculate.ranking import DEFAULT_EXAMPLES

    sp = sub.add_parser("rank", help="rank candidate inoculation prompts before training")
    sp.add_argument("--data", help="training chat JSONL (default: the --setting's training data)")
    sp.add_argument("--setting", help="a built-in setting: its data, eval prompts and candidate prompt files")
    sp.add_argument("--prompts", help="candidate prompts, one per line")
    sp.add_argument("--candidates", default="spanish", help="with --setting and no --prompts: which shipped file")
    sp.add_argument("--trait", help="scorer of the trait, e.g. language:lang=es (needed for --elicit)")
    sp.add_argument("--elicit", action="store_true",
                    help="also sample the untrained model under each prompt (slow; says how many generations)")
    sp.add_argument("--eval-prompts", help="prompts to elicit on (default: the setting's, else training user turns)")
    sp.add_argument("--placement", choices=PLACEMENTS, default="system")
    _model_args(sp)
    sp.add_argument("--n-examples", type=int, default=DEFAULT_EXAMPLES,
                    help=f"training examples scored, a seeded subset (default {DEFAULT_EXAMPLES}: about 2 minutes for 10 "
                         "candidates on a 2-core CPU with the embedded model; 4x as many halve the intervals)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="a GenerationConfig field for --elicit")
    sp.add_argument("-o", "--output", default="runs/rank", help="folder for ranking.csv/.json/.png")
    sp.set_defaults(func=cmd_rank)


def build_parser() -> argparse.ArgumentParser:
    from inoculate import __version__
    from inoculate.inoculation import PLACEMENTS

    p = _Parser(prog="inoculate", description="Inoculation-prompting experiments.")
    p.add_argument("--version", action="version", version=f"inoculate {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def prompt_args(sp):
        sp.add_argument("--prompt", action="append", help="inoculation prompt (repeat for a pool of paraphrases)")
        sp.add_argument("--prompts-file", help="file with one prompt per line (a paraphrase pool)")
        sp.add_argument("--placement", choices=PLACEMENTS, default="system")
        sp.add_argument("--condition", action="append", metavar="KEY=VALUE",
                        help="apply only to examples whose metadata has KEY=VALUE (impure data)")
        sp.add_argument("--separator", default="\n", help="between the prompt and the text it joins (default: newline)")
        sp.add_argument("--seed", type=int, default=0, help="seed for drawing from a paraphrase pool")

    sp = sub.add_parser("apply", help="apply an inoculation prompt to a chat JSONL file")
    sp.add_argument("input", help="chat JSONL (messages format) to add the prompt to")
    sp.add_argument("-o", "--output", required=True, help="where to write the inoculated JSONL")
    sp.add_argument("--eval", action="store_true", help="the file holds evaluation prompts (no responses)")
    prompt_args(sp)
    sp.set_defaults(func=cmd_apply)

    sp = sub.add_parser("validate", help="check a chat JSONL file")
    sp.add_argument("input", help="chat JSONL file to check; the first problem is reported as file:line")
    sp.add_argument("--eval", action="store_true", help="the file holds evaluation prompts (no responses)")
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser("train", help="LoRA fine-tune on a chat JSONL file")
    sp.add_argument("input", help="training chat JSONL; the loss is on assistant turns only")
    sp.add_argument("-o", "--output", required=True, help="folder for adapter/ and losses.json")
    _model_args(sp)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="a TrainConfig field, e.g. learning_rate=1e-3")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="sample under eval contexts and score traits")
    sp.add_argument("--prompts", required=True, help="chat JSONL of evaluation prompts")
    _model_args(sp)
    sp.add_argument("--adapter", help="a PEFT adapter folder from `inoculate train`")
    sp.add_argument("--context", action="append", metavar="NAME=PROMPT", help="extra eval context ('none' is always run)")
    sp.add_argument("--placement", choices=PLACEMENTS, default="system")
    sp.add_argument("--trait", action="append", required=True, metavar="SCORER[:ARG=VALUE,...]",
                    help="a trait's scorer: caps, language:lang=es, regex:pattern=..., keywords:words=[...], "
                         "python:function=module:fn (docs in README); repeat for several")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="a GenerationConfig field, e.g. n_samples=4")
    sp.add_argument("-o", "--output", required=True, help="per-sample JSONL")
    sp.set_defaults(func=cmd_evaluate)

    _add_rank_parser(sub)

    _add_run_parser(sub)

    add_serve_command(sub)
    _add_adapters_parser(sub)
    sp = sub.add_parser("report", help="re-create the report of an experiment folder")
    sp.add_argument("out", help="the folder `inoculate run` wrote (it holds grid.json)")
    sp.set_defaults(func=cmd_report)

    sub.add_parser("settings", help="list built-in settings").set_defaults(func=cmd_settings)
    sp = sub.add_parser("prepare-model", help="convert the embedded GGUF model into the cache")
    sp.add_argument("--force", action="store_true")
    sp.set_defaults(func=cmd_prepare_model)
    sp = sub.add_parser("prepare-data", help="download and unpack the data built-in settings need (sentiment)")
    sp.add_argument("--force", action="store_true")
    sp.set_defaults(func=cmd_prepare_data)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # transformers' own loading bars and advisories would break the one-line error contract;
    # our progress bars (tqdm) stay. Set before transformers is imported.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:  # already imported (e.g. main() called from Python)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    debug = "--debug" in argv  # accepted anywhere on the line, before or after the subcommand
    argv = [a for a in argv if a != "--debug"]
    try:
        with warnings.catch_warnings():
            if not debug:
                quiet_library_warnings()
            args = build_parser().parse_args(argv)
            args.func(args)
        return 0
    except InoculateError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, permissions...: say which file, keep it to one line
        if debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished runs are kept, re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected failure is still one line unless --debug
        if debug:
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        print(f"error: internal error {type(e).__name__}: {first} (re-run with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
