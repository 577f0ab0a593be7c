import hashlib
import subprocess
import sys


def _sha(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_data_synth_writes_every_table_and_truth_deterministically(tmp_path):
    for out in ("a", "b"):
        done = subprocess.run([sys.executable, "-m", "helpers.cli", "data", "synth", "--n", "300", "--months", "12",
                               "--seed", "5", "--out", str(tmp_path / out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "customers 300" in done.stdout
    names = {"customers.parquet", "revenue.parquet", "contacts.parquet", "campaigns.parquet",
             "manager_departures.parquet", "truth.json"}
    assert set(_sha(tmp_path / "a")) == names
    assert _sha(tmp_path / "a") == _sha(tmp_path / "b")


def test_help_lists_the_commands():
    done = subprocess.run([sys.executable, "-m", "helpers.cli", "--help"], capture_output=True, text=True)
    assert all(cmd in done.stdout for cmd in ("data", "run", "params", "index"))
