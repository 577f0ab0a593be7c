"""The ``workbench`` command.

Exit status: 0 all went well; 1 a notebook failed (its error is in the manifest and the
index, and the previous good report stays listed), or the disk filled up (that run's files are
removed); 2 the run was refused before any kernel started (unknown parameter, wrong type, value
outside its choices or range, a YAML tag, missing or invalid data). Every refusal is one
message naming what to fix, never a traceback.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from helpers import config

EXIT_FAILED, EXIT_REFUSED = 1, 2
AUTO_CHUNK_ABOVE = 500_000  # `data synth` simulates more customers than this in chunks


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
@click.option("--chunk-size", type=click.IntRange(min=1), default=None,
              help=f"Simulate and write this many customers at a time; memory follows it [default: all at once "
                   f"up to {AUTO_CHUNK_ABOVE:,} customers, chunks of 250,000 above].")
@click.option("--tables", default=None, metavar="NAME,...",
              help="Tables to write, comma-separated; customers is required [default: all].")
def synth_command(n: int, months: int, seed: int, out: Path | None, chunk_size: int | None,
                  tables: str | None) -> None:
    """Write the synthetic service data (a parquet file per table) and truth.json; many customers in chunks."""
    from helpers.data import synth

    if n < 1 or months < 1:
        raise click.BadParameter("--n and --months must be at least 1")
    try:
        names = synth.table_selection(None if tables is None else [t.strip() for t in tables.split(",") if t.strip()])
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--tables'") from None
    if chunk_size is None and n > AUTO_CHUNK_ABOVE:
        chunk_size = synth.CHUNK_SIZE
        click.echo(f"{n:,} customers are more than {AUTO_CHUNK_ABOVE:,}: writing them in chunks of {chunk_size:,} "
                   "(--chunk-size to change)")
    if chunk_size is None:
        generated, truth = synth.generate(n, months, seed=seed)
        folder = synth.write({name: generated[name] for name in names}, truth, out or config.SYNTHETIC)
        rows = {name: len(generated[name]) for name in names}
    else:
        folder = synth.write_chunked(n, months, seed=seed, chunk_size=chunk_size, folder=out or config.SYNTHETIC,
                                     tables=names, progress=True)
        written = json.loads((folder / "truth.json").read_text())["realised"]["rows"]
        rows = {name: written[name] for name in names}
    sizes = ", ".join(f"{name} {count:,}" for name, count in rows.items())
    click.echo(f"wrote {folder}: {sizes}")


@data.command("check")
@click.argument("source")
def check_command(source: str) -> None:
    """Read a data set (mapping .yaml, folder or built-in name), validate it, profile it and check its quality.

    The quality checks: duplicated rows and ids, constant and empty columns, values outside their
    scale, what the mapping filled or dropped, and columns that nearly determine churn (leakage).

    Exit status 0 when the data meet the contract, 2 when they cannot be used (problems printed).
    """
    from helpers.data.io import load_dataset
    from helpers.data.mapping import MappingError, profile
    from helpers.data.validate import DataError

    try:
        ds = load_dataset(source)
    except (DataError, MappingError, FileNotFoundError) as e:
        click.echo(f"cannot use {source}:\n{e}", err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(f"{source}: meets the data contract (fingerprint {ds.fingerprint})")
    for line in profile(ds.tables):
        click.echo(f"  {line}")
    from helpers.data import quality

    for line in quality.quality_lines(quality.quality_issues(ds)):
        click.echo(f"  {line}")


@data.command("init")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the mapping [default: mapping.yaml next to FILE].")
@click.option("--force", is_flag=True, help="Overwrite an existing mapping file.")
def init_command(file: Path, out: Path | None, force: bool) -> None:
    """Draft a mapping file from a CSV/TSV (or Excel) header, with guesses marked '# GUESS: confirm'."""
    from helpers.data.mapping import MappingError, draft_mapping

    from .files import atomic_write

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
    """The -f file's values, then the -p values over them (a name matches in any case)."""
    from .report.params import ParameterError, load_plain_yaml, split_assignments

    values = {}
    if params_file is not None:
        loaded = load_plain_yaml(params_file.read_bytes(), source=str(params_file))
        if not isinstance(loaded, (dict, type(None))):
            raise ParameterError(f"{params_file}: a parameters file is a mapping of NAME: value, "
                                 f"got {type(loaded).__name__}")
        values.update(loaded or {})
    given = split_assignments(list(pairs))
    lowered = {name.lower() for name in given}
    return {k: v for k, v in values.items() if str(k).lower() not in lowered} | given


@main.command("run")
@click.argument("notebooks", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every notebook (the default when none is named).")
@click.option("-p", "--param", "pairs", multiple=True, metavar="NAME=VALUE", help="Set a parameter (repeatable).")
@click.option("-f", "--params-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML file of parameters; -p values take precedence.")
@click.option("--grid", "grid_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML grid: run its notebooks once per combination of parameter values, one run folder each.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Notebooks run at once, one kernel each [default: the number of cores, at most the notebooks].")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run the notebooks on the Dask cluster at ADDRESS (e.g. tcp://127.0.0.1:8786) instead.")
@click.option("--scheduler-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              metavar="SECONDS", help="How long to wait for the scheduler and a worker.")
@click.option("--max-points", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --grid: refuse a grid of more than N points [default: 1000].")
@click.option("--force", is_flag=True,
              help="Rerun notebooks whose source, parameters, data and environment are unchanged since a good run.")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Reports folder [default: reports/].")
@click.option("--no-progress", is_flag=True, help="No progress output while notebooks run.")
@click.option("--show-code", is_flag=True, help="Include the code in the HTML reports.")
def run_command(notebooks, run_all, pairs, params_file, grid_file, jobs, scheduler, scheduler_timeout, max_points,
                force, reports, no_progress, show_code) -> None:
    """Execute notebooks and write reports/<run-id>/ (notebook, HTML, manifest) and reports/index.html.

    A notebook whose source, parameters, data and environment are unchanged since a successful
    run is skipped (the output names the run that holds its report); --force reruns it.
    """
    from .report import ParameterError, RunRefused
    from .report.grid import MAX_POINTS, GridError, SchedulerUnreachable, load_grid
    from .report.runner import DiskFull, run_grid, run_points

    _check_run_options(notebooks, run_all, pairs, params_file, grid_file, jobs, scheduler, max_points)
    options = {"reports": reports, "progress": not no_progress, "show_code": show_code, "jobs": jobs,
               "scheduler": scheduler, "force": force, "timeout": scheduler_timeout}
    try:
        if grid_file is not None:
            grid = load_grid(grid_file, max_points=max_points or MAX_POINTS)
            manifests = run_grid(grid, **options)
        else:
            grid = None
            manifests = run_points(list(notebooks), [_overrides(pairs, params_file)], strings=True, **options)
    except (RunRefused, ParameterError, GridError, SchedulerUnreachable) as e:
        click.echo(f"refused: {e}", err=True)
        sys.exit(EXIT_REFUSED)
    except DiskFull as e:
        click.echo(f"failed: {e}", err=True)
        sys.exit(EXIT_FAILED)
    folder = Path(reports or config.reports_dir())
    for manifest in manifests:  # with progress, each notebook's line was printed as it finished
        _echo_run(manifest, folder, notebooks=no_progress)
    if grid is not None:
        written = sum(m["run_id"] is not None for m in manifests)
        click.echo(f"grid {grid.source}: {len(manifests)} points, {written} run folders written, "
                   f"index {folder / 'index.html'}")
    if any(m["status"] in ("failed", "partial") for m in manifests):  # a partial report is not a complete one
        sys.exit(EXIT_FAILED)


def _check_run_options(notebooks, run_all, pairs, params_file, grid_file, jobs, scheduler, max_points) -> None:
    if run_all and notebooks:
        raise click.UsageError("give notebook names or --all, not both")
    if grid_file is not None and (notebooks or run_all or pairs or params_file):
        raise click.UsageError("with --grid, the notebooks and parameters come from the grid file: "
                               "drop the notebook names, --all, -p and -f (fixed values go under `parameters:`)")
    if max_points is not None and grid_file is None:
        raise click.UsageError("--max-points goes with --grid")
    if jobs is not None and scheduler:
        raise click.UsageError("give --jobs or --scheduler, not both: on a cluster its workers run the jobs")


def _echo_run(manifest: dict, reports: Path, *, notebooks: bool) -> None:
    """Where the run folder is, after one line per notebook (ran or skipped) when ``notebooks``."""
    from .report.runner import not_run_line, result_line, skip_line

    label = (manifest.get("grid") or {}).get("label", "")
    for entry in manifest["notebooks"] if notebooks else []:
        click.echo(result_line(entry, label))
    for skip in manifest.get("skipped", []) if notebooks else []:
        click.echo(skip_line(skip, label, reports))
    for entry in manifest.get("not_run", []) if notebooks else []:
        click.echo(not_run_line(entry, label))
    if manifest["run_id"] is not None:
        click.echo(f"run {manifest['run_id']} {manifest['status']}: {reports / manifest['run_id']}")
    elif not manifest.get("grid"):
        click.echo("nothing to run: every notebook is unchanged")


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
        bounds = f" range: {p.bounds}." if p.bounds else ""
        length = f" {p.length} values." if p.length else ""
        click.echo(f"  {p.name.lower():<22} {p.type_name:<6} default {p.default!r}. {p.help}{choices}{bounds}{length}")


@main.command("index")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None)
def index_command(reports: Path | None) -> None:
    """Rebuild reports/index.html from the run manifests."""
    from .report import write_index

    click.echo(f"wrote {write_index(Path(reports or config.reports_dir()))}")


@main.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--all", "everything", is_flag=True, help="Show every finding, not only those that changed.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
              help="text for a terminal (100 columns), markdown for a note, json (raw numbers) for scripts.")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None)
def diff_command(run_a: str, run_b: str, everything: bool, fmt: str, reports: Path | None) -> None:
    """Compare two runs (run ids, `latest`, or run folders): the data and parameters that differ, then the
    findings that changed (beyond their intervals or not)."""
    from .report.history import format_diff, load_manifest

    folder = Path(reports or config.reports_dir())
    try:
        manifests = load_manifest(run_a, folder), load_manifest(run_b, folder)
    except FileNotFoundError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(format_diff(*manifests, everything=everything, fmt=fmt))


if __name__ == "__main__":  # pragma: no cover
    main()
