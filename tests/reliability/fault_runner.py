"""`polyhead ...` with a fault injected: sends signal FAULT_SIGNAL to this very process right
after training step FAULT_STEP (a real kill, at a step the test chose).

Usage: FAULT_STEP=7 FAULT_SIGNAL=SIGKILL python fault_runner.py train CONFIG --out RUN
"""

from __future__ import annotations

import os
import signal
import sys

import lightning.pytorch as pl


class SignalAtStep(pl.Callback):
    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def main() -> None:
    from polyhead.cli import main as polyhead_main
    from polyhead.engine import train as engine_train

    fault = SignalAtStep(int(os.environ["FAULT_STEP"]), getattr(signal, os.environ["FAULT_SIGNAL"]))
    make_trainer = engine_train.build_trainer

    def with_fault(*args, **kwargs):
        trainer = make_trainer(*args, **kwargs)
        trainer.callbacks.append(fault)
        return trainer

    engine_train.build_trainer = with_fault
    sys.argv = ["polyhead", *sys.argv[1:]]
    polyhead_main()


if __name__ == "__main__":
    main()
