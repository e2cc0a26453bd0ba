"""Command-line flags generated from PipelineConfig's fields (one description per setting).

Every flag is registered with ``default=SUPPRESS``, so a flag given before a subcommand and one given after
it both land in the namespace, and the later one wins; nothing given means the field's default.
"""
from __future__ import annotations

import argparse
from dataclasses import fields

from models.variants import PRESETS, Submodels
from pipeline.config import PRESET_HELP, PipelineConfig

# Shorthands kept from earlier releases: each removes submodels from --submodels.
_WITHOUT = {"no_lips": (Submodels.LIPS, "skip the lips submodel"),
            "no_eyes": (Submodels.EYES, "skip the eye-contour submodels"),
            "no_iris": (Submodels.IRISES, "skip the iris submodels (landmarks 468-477 become NaN)")}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _default_text(f) -> str:
    d = f.default
    if isinstance(d, Submodels):
        return d.label
    if isinstance(d, bool):
        return "on" if d else "off"
    return "auto" if d is None else f"{d:g}" if isinstance(d, float) else str(d)


def add_config_arguments(parser: argparse.ArgumentParser, title: str = "tracking options") -> None:
    """Add one flag per PipelineConfig field (and the --no-lips/--no-eyes/--no-iris shorthands)."""
    group = parser.add_argument_group(title)
    sup = argparse.SUPPRESS
    for f in fields(PipelineConfig):
        m = f.metadata
        if not m["cli"]:
            continue
        help_text = m["help"] if "default" in m["help"] else f"{m['help']} (default {_default_text(f)})"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        if isinstance(f.default, Submodels):
            group.add_argument(flag(f.name), type=_submodels, default=sup, metavar="SET", help=help_text)
        elif isinstance(f.default, bool):
            group.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=sup, help=help_text)
        elif m["choices"] is not None:
            group.add_argument(flag(f.name), choices=m["choices"], default=sup, help=help_text)
        else:
            integral = isinstance(f.default, int) or f.default is None
            kind = int if integral else float
            group.add_argument(flag(f.name), type=kind, default=sup, metavar="N" if integral else "X",
                               help=help_text + (f"; {m['lo']:g} to {m['hi']:g}" if m["lo"] is not None else ""))
    group.add_argument("--preset", choices=tuple(PRESETS), default=sup,
                       help="submodel preset: " + "; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items())
                       .replace("%", "%%"))
    for name, (_, help_text) in _WITHOUT.items():
        group.add_argument(flag(name), action="store_true", default=sup, help=help_text)


def _submodels(text: str) -> Submodels:
    try:
        return Submodels.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def given_config_options(args: argparse.Namespace) -> list[str]:
    """The config flags the user gave (for commands they do not apply to)."""
    names = set(PipelineConfig.field_names()) | set(_WITHOUT) | {"preset"}
    return [flag(n) for n in sorted(names) if hasattr(args, n)]


def config_from_args(args: argparse.Namespace, base: PipelineConfig = PipelineConfig()) -> PipelineConfig:
    """``base`` with every config flag the user gave. Raises ConfigError for a value out of range."""
    changes = {n: getattr(args, n) for n in PipelineConfig.field_names() if hasattr(args, n)}
    preset = PRESETS[args.preset] if hasattr(args, "preset") else base.submodels
    submodels = changes.get("submodels", preset)  # an explicit --submodels wins over --preset
    for name, (members, _) in _WITHOUT.items():
        if getattr(args, name, False):
            submodels &= ~members
    changes["submodels"] = submodels
    return base.with_changes(**changes)
