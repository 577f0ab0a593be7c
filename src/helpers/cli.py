"""The ``workbench`` command.

Exit status: 0 all went well; 1 a notebook failed (its error is in the manifest and the
index, and the previous good report stays listed); 2 the run was refused before any kernel
started (unknown parameter, wrong type, value outside its choices, missing or invalid data).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from . import config

EXIT_FAILED, EXIT_REFUSED = 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Customer-service analytics workbench: data, notebook runs and reports."""


@main.group()
def data() -> None:
    """Generate and check data sets."""


@data.command("synth")
@click.option("--n", "n", default=20000, show_default=True, help="Number of customers.")
@click.option("--months", default=36, show_default=True, help="Length of the observation window in months.")
@click.option("--seed", default=7, show_default=True, help="Random seed: same seed, same bytes.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Output folder [default: {config.SYNTHETIC.relative_to(config.ROOT)}].")
def synth_command(n: int, months: int, seed: int, out: Path | None) -> None:
    """Write the synthetic service data (every table, parquet) and truth.json."""
    from . import synth

    if n < 1 or months < 1:
        raise click.BadParameter("--n and --months must be at least 1")
    tables, truth = synth.generate(n, months, seed=seed)
    folder = synth.write(tables, truth, out or config.SYNTHETIC)
    sizes = ", ".join(f"{name} {len(df):,}" for name, df in tables.items())
    click.echo(f"wrote {folder}: {sizes}")


@data.command("check")
@click.argument("source")
def check_command(source: str) -> None:
    """Read a data set (mapping .yaml, folder or built-in name), validate it and profile it.

    Exit status 0 when the data meet the contract, 2 when they cannot be used (problems printed).
    """
    from .io import load_dataset
    from .mapping import MappingError, profile
    from .validate import DataError

    try:
        ds = load_dataset(source)
    except (DataError, MappingError, FileNotFoundError) as e:
        click.echo(f"cannot use {source}:\n{e}", err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(f"{source}: meets the data contract (fingerprint {ds.fingerprint})")
    for line in profile(ds.tables):
        click.echo(f"  {line}")


@data.command("init")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the mapping [default: mapping.yaml next to FILE].")
@click.option("--force", is_flag=True, help="Overwrite an existing mapping file.")
def init_command(file: Path, out: Path | None, force: bool) -> None:
    """Draft a mapping file from a CSV/TSV (or Excel) header, with guesses marked '# GUESS: confirm'."""
    from .files import atomic_write
    from .mapping import MappingError, draft_mapping

    out = out or file.parent / "mapping.yaml"
    if out.exists() and not force:
        click.echo(f"{out} exists: pass --force to overwrite it, or --out another path", err=True)
        sys.exit(EXIT_REFUSED)
    try:
        text = draft_mapping(file, out=out)
    except MappingError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_REFUSED)
    atomic_write(out, text)
    click.echo(f"wrote {out}: confirm each '# GUESS', then run `workbench data check {out}`")


def _overrides(pairs: tuple[str, ...], params_file: Path | None) -> dict:
    from .report.params import split_assignments

    values = {}
    if params_file is not None:
        loaded = yaml.safe_load(params_file.read_text()) or {}
        if not isinstance(loaded, dict):
            raise click.UsageError(f"{params_file}: a parameters file is a mapping of NAME: value")
        values.update(loaded)
    values.update(split_assignments(list(pairs)))
    return values


@main.command("run")
@click.argument("notebooks", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every notebook (the default when none is named).")
@click.option("-p", "--param", "pairs", multiple=True, metavar="NAME=VALUE", help="Set a parameter (repeatable).")
@click.option("-f", "--params-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML file of parameters; -p values take precedence.")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Reports folder [default: reports/].")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--show-code", is_flag=True, help="Include the code in the HTML reports.")
def run_command(notebooks, run_all, pairs, params_file, reports, no_progress, show_code) -> None:
    """Execute notebooks and write reports/<run-id>/ (notebook, HTML, manifest) and reports/index.html."""
    from .report import ParameterError, RunRefused, run

    if run_all and notebooks:
        raise click.UsageError("give notebook names or --all, not both")
    try:
        manifest = run(list(notebooks), _overrides(pairs, params_file), strings=True, reports=reports,
                       progress=not no_progress, show_code=show_code)
    except (RunRefused, ParameterError) as e:
        click.echo(f"refused: {e}", err=True)
        sys.exit(EXIT_REFUSED)
    folder = Path(reports or config.reports_dir()) / manifest["run_id"]
    for entry in manifest["notebooks"]:
        line = f"{entry['notebook']}: {entry['status']} in {entry['duration_s']:.1f} s"
        click.echo(line if entry["status"] == "succeeded" else f"{line}: {entry.get('error')}")
    click.echo(f"run {manifest['run_id']} {manifest['status']}: {folder}")
    if manifest["status"] != "succeeded":
        sys.exit(EXIT_FAILED)


@main.command("params")
@click.argument("notebook")
def params_command(notebook: str) -> None:
    """List a notebook's parameters: name, type, default, choices and help."""
    from .report import RunRefused, declared_parameters, find_notebook

    try:
        path = find_notebook(notebook)
    except RunRefused as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(f"{path.stem} parameters (set with -p name=value):")
    for p in declared_parameters(path).values():
        choices = f" choices: {', '.join(map(str, p.choices))}." if p.choices else ""
        click.echo(f"  {p.name.lower():<22} {p.type_name:<6} default {p.default!r}. {p.help}{choices}")


@main.command("index")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None)
def index_command(reports: Path | None) -> None:
    """Rebuild reports/index.html from the run manifests."""
    from .report import write_index

    click.echo(f"wrote {write_index(Path(reports or config.reports_dir()))}")


@main.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None)
def diff_command(run_a: str, run_b: str, reports: Path | None) -> None:
    """Compare the findings of two runs (run ids, `latest`, or run folders): A, B, change, beyond intervals."""
    from .report.history import diff_runs, load_manifest

    folder = Path(reports or config.reports_dir())
    try:
        table = diff_runs(load_manifest(run_a, folder), load_manifest(run_b, folder))
    except FileNotFoundError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(table.to_string(index=False) if len(table) else "no findings in either run")


if __name__ == "__main__":  # pragma: no cover
    main()
