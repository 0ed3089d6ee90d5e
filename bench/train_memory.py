"""Peak memory and speed of one short LoRA run, with whole padded batches or length groups.

Trains the embedded SmolLM2-135M on 32 training examples of a setting (batch 8, max_length 640,
4 steps, first step included) with training.CPU_CALL_OVERHEAD_TOKENS set to OVERHEAD ("inf" =
one padded batch per step, as before micro-batching), and prints the process's peak RSS. Run each
setting in a fresh process, since peak RSS only grows:

    python bench/train_memory.py inf code-reward-hacking
    python bench/train_memory.py 64 code-reward-hacking
"""

import random
import resource
import sys

import inoculate.training as T
from inoculate.models import load_model
from inoculate.settings import get_setting

T.CPU_CALL_OVERHEAD_TOKENS = float(sys.argv[1])
name = sys.argv[2]
m, tok = load_model("smollm2-135m", "cpu", "float32")
ex = random.Random(0).sample(get_setting(name).train_examples(), 32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
_, r = T.train_lora(m, tok, ex, T.TrainConfig(batch_size=8, max_length=640, checkpoint_every=0), seed=0, progress=False)
print(f"{name} overhead {sys.argv[1]}: maxrss after load {before/1e6:.2f} GB, after training "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1e6:.2f} GB, {r.tokens_per_second:.0f} tok/s, loss {r.losses[-1]['loss']:.5f}")
