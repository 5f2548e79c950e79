# Runs mattgorb/parameter_tiling_and_recycling (c55e976) on a CPU with today's torch, at a width.
# What it patches, and only that:
# - set_gpu's `assert torch.cuda.is_available()` becomes `device = torch.device("cpu")`, and
#   args.gpu is None (the code's own CPU case, which the assert and an unset `device` block);
# - trainers/default.py moves targets to "cuda:{args.gpu}" unconditionally: "cpu" when args.gpu
#   is None;
# - trainers/default.py calls rerandomize_model (utils/net_utils.py) for rerand_iter_freq but
#   never imports it, so their per-iteration schedule stops at its first firing with a
#   NameError; the import is added (main.py imports it for rerand_epoch_freq);
# - torchvision's CIFAR-10 integrity check, which Fashion-MNIST written as CIFAR-10 cannot pass;
# - WIDTH (environment, default 1): Conv6's channel counts 64, 128, 256 become int(c·WIDTH), as
#   biprop's Conv6Wide and our --width (their Conv6 has fixed widths).
import os, re, sys, importlib, torch, torchvision
import torchvision.datasets.cifar as _c
torchvision.datasets.CIFAR10._check_integrity = lambda self: True
_c.check_integrity = lambda *a, **k: True
sys.argv = ["main.py"] + sys.argv[1:]
import args as _a
_a.args.gpu = None

def patched(module, path, edit):
    m = importlib.import_module(module)
    src = open(path).read()
    new = edit(src)
    assert new != src, f"{path}: nothing patched"
    exec(compile(new, path, "exec"), m.__dict__)

width = float(os.environ.get("WIDTH", "1"))
def scale_conv6(src):
    start = src.index("class Conv6(nn.Module):")
    end = src.index("class Conv8(nn.Module):")
    body = re.sub(r"\b(64|128|256)\b", lambda m: f"int({m.group(1)} * {width})", src[start:end])
    return src[:start] + body + src[end:]
patched("models.frankle", "models/frankle.py", scale_conv6)
import models
def Conv6():
    # the package re-exports the class it imported first; the count is a check on WIDTH
    m = models.frankle.Conv6()
    n = sum(p.numel() for k, p in m.named_parameters() if k.endswith("weight"))
    print(f"Conv6 x{width}: {n} weights")
    return m
models.Conv6 = Conv6
patched("trainers.default", "trainers/default.py",
        lambda s: "from utils.net_utils import rerandomize_model\n"
        + s.replace('target.to("cuda:{}".format(args.gpu))',
                    'target.to("cpu" if args.gpu is None else "cuda:{}".format(args.gpu))'))
src = open("main.py").read()
line = 'assert torch.cuda.is_available(), "CPU-only experiments currently unsupported"'
assert src.count(line) == 1
src = src.replace(line, 'device = torch.device("cpu")')
exec(compile(src, "main.py", "exec"), {"__name__": "__main__"})
