"""`tunewright tune` on a real PostgreSQL: two worker processes finish one study with no lost and no duplicated
trial; a worker killed with SIGKILL mid-trial has its trial failed by the heartbeat and re-run, with the same
parameters, by the next worker; a plain `tune` afterwards chooses from the shared study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tunewright.pipeline import load_demo_config
from tunewright.pipeline import Session, new_run, stage_audit, stage_eval, stage_split, stage_train
from tiny_train import tiny_study_overrides

pytestmark = pytest.mark.slow


def _overrides(tmp_path, model_dir, trials):
    return [  # the studies' tiny run, smaller still, with a checkpoint every step (a killed worker resumes)
        *tiny_study_overrides(model_dir, tmp_path / "runs"),
        "data.max_records=120", "training.save_steps=1", "task.max_new_tokens=4", "task.max_test_examples=6",
        "general.perplexity_paragraphs=2", "general.mmlu_questions=3",
        f"tuning.trials={trials}", "tuning.rerun_top=0", "tuning.general_paragraphs=2", "tuning.general_mmlu=2",
        "tuning.max_validation_examples=4", "tuning.rungs=[]", "tuning.heartbeat_seconds=1",
        "tuning.space={training.learning_rate: {low: 0.0001, high: 0.01, log: true}}",
    ]


def _prepared_run(tmp_path, model_dir, pg_url, trials):
    o = _overrides(tmp_path, model_dir, trials) + [f"tuning.storage={pg_url}"]
    cfg = load_demo_config(False, o)
    run = new_run(cfg)
    session = Session(cfg)
    stage_audit(cfg, run, session, force=True)
    stage_split(cfg, run)
    stage_eval(cfg, run, "base", session)
    stage_train(cfg, run, session)
    stage_eval(cfg, run, "tuned", session)
    return cfg, run


def _worker(run, env=None):
    return subprocess.Popen([sys.executable, "-m", "tunewright", "tune", "--run", str(run.path), "--join"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _study(cfg, run):
    import optuna

    return optuna.load_study(study_name=f"tune-{run.id}", storage=cfg.tuning.storage)


def _fresh_db(pg_url):
    import sqlalchemy

    eng = sqlalchemy.create_engine(pg_url)
    with eng.begin() as c:
        c.execute(sqlalchemy.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()


def test_two_workers_finish_one_study_without_loss_or_duplicates(tmp_path, tiny_model_dir, pg_url):
    import optuna

    _fresh_db(pg_url)
    cfg, run = _prepared_run(tmp_path, tiny_model_dir, pg_url, trials=4)
    workers = [_worker(run), _worker(run)]
    outs = [w.communicate(timeout=1800)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[-3000:] for o in outs]
    trials = _study(cfg, run).get_trials()
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 4 <= len(done) <= 5  # each worker checks the budget before a trial: at most one over per worker
    assert len({t.number for t in trials}) == len(trials)
    assert not [t for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL)]
    dirs = {t.user_attrs["path"] for t in done}
    assert len(dirs) == len(done) and all(os.path.isdir(d) for d in dirs)  # one sub-run per trial, none shared
    # the coordinator chooses from the shared study
    r = subprocess.run([sys.executable, "-m", "tunewright", "tune", "--run", str(run.path)], capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "chosen: trial" in r.stdout and (run.path / "tuning" / "chosen.yaml").exists()


def test_a_killed_worker_has_its_trial_retried(tmp_path, tiny_model_dir, pg_url):
    import optuna

    _fresh_db(pg_url)
    cfg, run = _prepared_run(tmp_path, tiny_model_dir, pg_url, trials=2)
    victim = _worker(run)
    deadline = time.time() + 900
    trial0 = run.path / "tuning" / "trial-000"
    while time.time() < deadline and not (trial0 / "checkpoints").is_dir():  # mid-training of trial 0
        assert victim.poll() is None, victim.stdout.read()
        time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    time.sleep(4)  # > 3 missed heartbeats of 1 s: the trial is stale
    survivor = _worker(run)
    out = survivor.communicate(timeout=1800)[0]
    assert survivor.returncode == 0, out
    trials = _study(cfg, run).get_trials()
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.number for t in failed] == [0]
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == 0]  # RetryHeartbeatStaleTrialCallback
    assert len(retried) == 1 and retried[0].state == optuna.trial.TrialState.COMPLETE
    assert retried[0].params == failed[0].params
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == 2
