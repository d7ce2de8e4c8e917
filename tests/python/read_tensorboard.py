"""Reads a folder of TensorBoard event files with TensorBoard's own reader and prints every scalar
as JSON: {"tag": [[step, value], ...], ...}. Exits 3 when the tensorboard package is absent."""
import json
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator
except ImportError as e:
    print(f"tensorboard is not installed: {e}", file=sys.stderr)
    sys.exit(3)

acc = event_accumulator.EventAccumulator(sys.argv[1], size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}))
