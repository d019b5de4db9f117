"""The plugin template, pip-installed into the test environment, is found and used by ``gda``."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

CONFIG = {
    "seed": 3,
    "dataset": {"name": "core.wine", "params": {"k_shot": 8}},
    "generator": {"name": "example.jitter", "params": {"scale": 0.2}},
    "generate": {"per_class": 10, "shard_size": 8},
    "selectors": ["example.margin", "core.dedup"],
    "validators": [{"name": "core.downstream", "params": {"seeds": 2}}, "core.prdc"],
    "embedder": "core.standardize",
}


def test_gda_plugins_finds_the_installed_template(installed_template, gda):
    done = gda("plugins", "--json")
    assert done.returncode == 0, done.stderr
    found = {p["name"]: p for p in json.loads(done.stdout)}
    assert set(found) == {"gda_core", "gda_example"}
    example = found["gda_example"]
    assert example["distribution"] == "gda-example"
    assert example["version"] == "0.1.0"
    assert example["hooks"] == ["register_generators", "register_selectors"]
    assert "error" not in example


def test_gda_list_shows_the_template_components_and_parameters(installed_template, gda):
    done = gda("list", "generators", "--json")
    assert done.returncode == 0, done.stderr
    gens = {g["name"]: g for g in json.loads(done.stdout)["generators"]}
    jitter = gens["example.jitter"]
    assert jitter["plugin"] == "gda_example"
    assert jitter["class"] == "gda_example.generators.jitter:JitterGenerator"
    assert {p["name"]: p["default"] for p in jitter["params"]} == {"scale": 0.1, "min_std": 1e-6}


def test_gda_run_uses_the_template_generator_and_resumes(installed_template, gda, tmp_path):
    cfg = tmp_path / "example.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / "run"
    done = gda("run", str(cfg), "-o", str(out), "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 30  # 10 per class, 3 wine classes
    assert {r["generator"] for r in rows} == {"example.jitter"}
    assert {r["generator_version"] for r in rows} == {"1"}
    assert all(r["condition"]["source_id"].startswith("train-") for r in rows)
    assert all(set(r["scores"]) <= {"example.margin", "core.dedup"} and "example.margin" in r["scores"]
               for r in rows)
    # "kept" is each selector's decision (a dict) or, in a later manifest format, the overall one
    kept = [r for r in rows if (all(r["kept"].values()) if isinstance(r["kept"], dict) else r["kept"])]
    assert kept and all((out / r["path"]).is_file() for r in kept)
    assert all(r["path"] is None for r in rows if r not in kept)

    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["generator"] == {"name": "example.jitter", "params": {"scale": 0.2, "min_std": 1e-6}}
    assert (out / "model" / "jitter.npz").is_file()
    metrics = json.loads((out / "validation.json").read_text())
    assert "real+synthetic.accuracy" in json.dumps(metrics["core.downstream"])
    assert 0.0 <= metrics["core.prdc"]["precision"] <= 1.0
    report = (out / "report.md").read_text()
    assert "example.jitter" in report

    # the same command on the same folder resumes: the generator is loaded back
    # from model/ (load_state) and every shard is reused; nothing changes
    manifest = (out / "manifest.jsonl").read_text()
    again = gda("run", str(cfg), "-o", str(out), "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (out / "manifest.jsonl").read_text() == manifest


def test_the_template_own_tests_pass_once_installed(installed_template, template_env):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=installed_template, capture_output=True, text=True, timeout=300,
                          env=template_env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
