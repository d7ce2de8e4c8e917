"""The torchvision side of parallax's equivalence checks (tests/integration/torchvision_test.cpp).

  make DIR           torchvision's resnet18 (10 classes, BatchNorm statistics made non-trivial) saved
                     with torch.save(state_dict()) as DIR/tv.pt, and a batch as DIR/batch.pt
  check DIR          DIR/logits.pt (parallax's eval-mode logits for those weights and that batch)
                     and DIR/stepped.pt (parallax's weights after one SGD step) against torchvision's
                     and torch.optim.SGD's; prints the largest differences as JSON
  load MODEL FILE    torchvision.models.MODEL(num_classes=10).load_state_dict(torch.load(FILE)),
                     strict
Exits 3 when torchvision is not installed."""
import json
import sys

import torch

try:
    import torchvision
except ImportError as e:
    print(f"torchvision is not installed: {e}", file=sys.stderr)
    sys.exit(3)

LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 5e-4


def model_from(path):
    m = torchvision.models.resnet18(num_classes=10)
    m.load_state_dict(torch.load(path), strict=True)
    return m


def make(d):
    torch.manual_seed(7)
    m = torchvision.models.resnet18(num_classes=10)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.num_batches_tracked.fill_(3)
    torch.save(m.state_dict(), f"{d}/tv.pt")
    torch.save({"images": torch.randn(8, 3, 32, 32), "labels": torch.randint(0, 10, (8,))},
               f"{d}/batch.pt")


def check(d):
    batch = torch.load(f"{d}/batch.pt")
    m = model_from(f"{d}/tv.pt").eval()
    with torch.no_grad():
        logits = m(batch["images"])
    theirs = torch.load(f"{d}/logits.pt")["logits"]
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    torch.nn.functional.cross_entropy(m(batch["images"]), batch["labels"]).backward()
    opt.step()
    stepped = torch.load(f"{d}/stepped.pt")
    ref = m.state_dict()
    assert set(stepped) == set(ref), set(stepped) ^ set(ref)
    diffs = {k: (stepped[k].double() - ref[k].double()).abs().max().item() for k in ref}
    worst = max(diffs, key=diffs.get)
    print(json.dumps({"logits": (logits - theirs).abs().max().item(),
                      "logit_scale": logits.abs().max().item(),
                      "step": diffs[worst], "worst_tensor": worst,
                      "moved": max((ref[k].double() - v.double()).abs().max().item()
                                   for k, v in model_from(f"{d}/tv.pt").state_dict().items()
                                   if v.is_floating_point())}))


def load(model, path):
    getattr(torchvision.models, model)(num_classes=10).load_state_dict(torch.load(path), strict=True)
    print("loaded")


if __name__ == "__main__":
    {"make": lambda: make(sys.argv[2]), "check": lambda: check(sys.argv[2]),
     "load": lambda: load(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
