"""The demo's model-build progress: without a terminal, one line per tenth of the build, each with the time left."""

import re

from dealpulse.commands.demo import ModelBuildProgress
from dealpulse.sentiment.trainer import TrainingProgress


def test_a_line_per_tenth_with_an_estimate_of_the_time_left(capsys) -> None:
    progress = ModelBuildProgress()
    progress.interactive = False  # as under `make demo | tee`, CI, or a service manager
    for step in range(1, 201):
        progress(TrainingProgress(epoch=1 + step // 100, step=step, total_steps=200, loss=0.5))
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert [re.search(r"(\d+)%", line).group(1) for line in lines] == [str(p) for p in range(10, 101, 10)]
    assert all(re.search(r"about (\d+ s|\d+ min) left", line) for line in lines)
    assert "(200/200 steps)" in lines[-1]
