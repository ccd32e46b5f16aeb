"""``python -m trainer COMMAND``: avatar (build the default avatar), synth (render a synthetic dataset),
train (train SkeletonNet), eval (evaluate a checkpoint or ONNX model), export (checkpoint to ONNX),
ablate (the paper's Tables 3 and 4 on synthetic data), motion (the motion model: train, export, eval),
blazepose (fetch, check and convert BlazePose's landmark network, the backbone), teacher-setup (the MediaPipe
environment), wild (3D labels for real photos and videos), annotate (accept or reject them)."""
import importlib
import sys

from engine.errors import reports_user_errors


@reports_user_errors("trainer")  # a user mistake in any command: one line, exit code 2
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"avatar": "trainer.avatar_build", "synth": "trainer.data.synth", "train": "trainer.train",
                "eval": "trainer.evaluate", "ablate": "trainer.ablate", "export": "trainer.export",
                "teacher-setup": "trainer.wild.teacher:main_setup", "wild": "trainer.wild.pipeline",
                "annotate": "trainer.wild.annotate", "motion": "trainer.motion.cli",
                "blazepose": "trainer.blazepose"}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m trainer {{{','.join(commands)}}} [options]", file=sys.stderr)
        return 2
    module, _, func = commands[argv[0]].partition(":")
    return getattr(importlib.import_module(module), func or "main")(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
