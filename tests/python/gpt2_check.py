"""The Hugging Face side of parallax's GPT-2 checks (tests/integration/gpt2_test.cpp).

  make DIR LAYERS HEADS WIDTH CONTEXT VOCAB
                     a randomly initialised transformers.GPT2LMHeadModel of that size, every
                     bias and LayerNorm made non-trivial and the token embedding (the head) 25x
                     GPT-2's initial scale, so that logits are of order 1; saved with
                     torch.save(state_dict()) as DIR/hf.pt
  check HEADS FILE DIR
                     GPT2LMHeadModel (its sizes read off FILE's shapes, HEADS heads, GPT-2's
                     tanh GELU, no dropout) loads FILE with strict=True; its logits for
                     DIR/tokens.pt's tokens against DIR/logits.pt (parallax's); prints JSON
Uses the transformers that scripts/install-deps.sh --torch2 puts in data/pypi/transformers.
Exits 3 when transformers is not installed."""
import json
import os
import re
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.append(os.path.join(ROOT, "data", "pypi", "transformers"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here is downloaded
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
try:
    from transformers import GPT2Config, GPT2LMHeadModel
except ImportError as e:
    print(f"transformers is not installed: {e}", file=sys.stderr)
    sys.exit(3)


def config(layers, heads, width, context, vocab):
    return GPT2Config(n_layer=layers, n_head=heads, n_embd=width, n_positions=context,
                      vocab_size=vocab, activation_function="gelu_new", resid_pdrop=0.0,
                      embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                      bos_token_id=None, eos_token_id=None)


def make(d, layers, heads, width, context, vocab):
    torch.manual_seed(11)
    m = GPT2LMHeadModel(config(layers, heads, width, context, vocab))
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(".bias"):
                p.uniform_(-0.1, 0.1)
            elif re.search(r"ln_(1|2|f)\.weight$", name):
                p.uniform_(0.5, 1.5)
            elif name == "transformer.wte.weight":
                p.normal_(0, 0.5)
    torch.save(m.state_dict(), f"{d}/hf.pt")


def check(heads, path, d):
    state = torch.load(path)
    layers = len({k.split(".")[2] for k in state if k.startswith("transformer.h.")})
    vocab, width = state["transformer.wte.weight"].shape
    context = state["transformer.wpe.weight"].shape[0]
    m = GPT2LMHeadModel(config(layers, heads, width, context, vocab))
    m.load_state_dict(state, strict=True)  # raises on any missing or unexpected key or shape
    m.eval()
    tokens = torch.load(f"{d}/tokens.pt")["tokens"]
    with torch.no_grad():
        logits = m(tokens).logits
    theirs = torch.load(f"{d}/logits.pt")["logits"]
    assert theirs.shape == logits.shape, (theirs.shape, logits.shape)
    print(json.dumps({"logits": (logits - theirs.to(logits.dtype)).abs().max().item(),
                      "logit_scale": logits.abs().max().item(), "keys": len(state),
                      "layers": layers, "width": width, "context": context, "vocab": vocab,
                      "tied": m.lm_head.weight.data_ptr() == m.transformer.wte.weight.data_ptr()}))


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "make":
        make(a[2], *map(int, a[3:8]))
    else:
        check(int(a[2]), a[3], a[4])
