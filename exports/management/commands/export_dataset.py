"""`manage.py export_dataset`: the same export the admin page runs, synchronously."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from exports.services import (
    ExportConfigError,
    ExportError,
    export_config_check,
    export_config_from_dict,
    export_run,
)


class Progress:
    """A \\r progress bar on a terminal; a plain line per step of 10% otherwise."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.tty:
            filled = int(30 * fraction)
            bar = "█" * filled + "·" * (30 - filled)
            self.stream.write(f"\r{bar} {done:,}/{total:,} conversations ({rate:,.0f}/s)")
            self.stream.flush()
        elif int(fraction * 10) > self.last_tenth:
            self.last_tenth = int(fraction * 10)
            self.stream.write(f"{done:,}/{total:,} conversations\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Export approved conversations as tokenized SFT data into DIR (published atomically)."

    def add_arguments(self, parser):
        parser.add_argument("--project", action="append", required=True, help="project slug")
        parser.add_argument("--out", required=True, help="folder to publish (must not exist)")
        parser.add_argument("--template", default="chatml-sep")
        parser.add_argument("--tokenizer", default="cl100k_base")
        parser.add_argument("--tokenizer-asset", type=int, help="id of an uploaded vocabulary")
        parser.add_argument("--max-tokens", type=int)
        parser.add_argument("--truncate", action="store_true", help="cut, don't drop, long ones")
        parser.add_argument("--val-fraction", type=float, default=0.05)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--format",
            default="jsonl,parquet",
            help="comma-separated: jsonl, parquet, openai, preference, kto",
        )
        parser.add_argument(
            "--preference-sources",
            default="edit,review_edit,ranking",
            help="comma-separated pair sources for the preference and kto formats",
        )
        parser.add_argument(
            "--preference-threshold",
            type=float,
            default=0.1,
            help="share of a reply's words a correction must change to be a pair (0 to 1)",
        )
        parser.add_argument(
            "--ranking-pairs",
            choices=["all", "majority"],
            default="all",
            help="several rankings of one prompt: every ranking's pairs, or only the "
            "pairs most of them agree on",
        )
        parser.add_argument(
            "--drop-reasoning",
            action="store_true",
            help="leave assistant reasoning out (for a model that does not think)",
        )
        parser.add_argument("--pack-length", type=int)
        parser.add_argument("--no-dedupe", action="store_true")
        parser.add_argument("--domain", action="append", default=[])
        parser.add_argument("--min-score", type=float)
        parser.add_argument("--exclude-unedited-ai-drafts", action="store_true")
        parser.add_argument("--license", default="other")
        parser.add_argument("--chunk-size", type=int, default=1000)

    def handle(self, *args, **options):
        out = Path(options["out"])
        if out.exists():
            raise CommandError(f"{out} already exists: choose a new folder.")
        try:
            config = export_config_from_dict(
                {
                    "projects": options["project"],
                    "template": options["template"],
                    "tokenizer": options["tokenizer"],
                    "tokenizer_asset": options["tokenizer_asset"],
                    "max_tokens": options["max_tokens"],
                    "truncate": options["truncate"],
                    "val_fraction": options["val_fraction"],
                    "seed": options["seed"],
                    "formats": options["format"],
                    "pack_length": options["pack_length"],
                    "drop_reasoning": options["drop_reasoning"],
                    "dedupe": not options["no_dedupe"],
                    "domains": options["domain"],
                    "min_score": options["min_score"],
                    "exclude_unedited_ai_drafts": options["exclude_unedited_ai_drafts"],
                    "license": options["license"],
                    "preference_sources": options["preference_sources"],
                    "preference_threshold": options["preference_threshold"],
                    "ranking_pairs": options["ranking_pairs"],
                }
            )
            export_config_check(config=config)
        except ExportConfigError as error:
            raise CommandError(f"Bad settings: {error}") from None
        progress = Progress(self.stderr._out)
        try:
            manifest = export_run(
                config=config,
                destination=out,
                progress=progress,
                chunk_size=options["chunk_size"],
            )
        except ExportError as error:
            raise CommandError(f"Export failed, nothing was written: {error}") from None
        finally:
            progress.close()
        counts = manifest["counts"]
        stats = manifest["token_statistics"]
        self.stdout.write(
            f"Exported {counts['exported']:,} of {counts['matched']:,} approved conversations "
            f"({counts['per_split']['train']:,} train, {counts['per_split']['validation']:,} "
            f"validation; {stats['tokens']:,} tokens, {stats['trained_tokens']:,} trained) to {out}"
        )
        if "preference" in counts:
            pairs = counts["preference"]
            sources = ", ".join(f"{n:,} {name}" for name, n in pairs["per_source"].items())
            left_out = sum(pairs["left_out"].values())
            self.stdout.write(
                f"Preference pairs: {pairs['pairs']:,} ({sources}); {left_out:,} candidates "
                f"left out (threshold {pairs['threshold']:.0%})"
            )
